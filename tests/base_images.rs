//! `base-images refresh` against moto seeded with vendor images (moto reads
//! the images of every region from the file MOTO_AMIS_PATH names: owner
//! ids, names, creation dates, states; tests/sandbox/moto_server.py
//! works around moto loading them for one region only).

mod common;

use common::sandbox::{free_port, wait_for_port};
use common::{valid_tree, Test};
use std::process::{Child, Command, Stdio};

const CENTOS: &str = "centos/7.8/aws/base_images.json";
/// The file as a person wrote it: regions not in order, its own indentation.
const CENTOS_TEXT: &str = "{\n    \"us-west-2\": \"ami-0a248ce88bcc7bd23\",\n    \"us-east-1\": \"ami-0b248ce88bcc7bd23\"\n}\n";
const CENTOS_OWNER: &str = "125523088429";
const NEWEST: &str = "ami-0c0e7f0a1b2c3d403";
const NEWEST_DEPRECATED: &str = "2022-06-02T10:00:00.000Z";

/// moto_server with the vendor images below; killed when dropped.
struct Moto {
    child: Child,
    port: u16,
    /// The images file and moto_server's stderr.
    dir: tempfile::TempDir,
}

impl Moto {
    fn start() -> Moto {
        let image = |id: &str, owner: &str, name: &str, created: &str, state: &str| {
            serde_json::json!({"ami_id": id, "owner_id": owner, "name": name, "creation_date": created, "state": state,
                "public": true, "architecture": "x86_64", "virtualization_type": "hvm", "root_device_type": "ebs",
                "root_device_name": "/dev/sda1", "hypervisor": "xen", "image_type": "machine", "description": name})
        };
        // Public images deprecate two years after they are made (EC2 leaves
        // them out of DescribeImages unless asked): the vendor's newest is.
        let mut newest = image(NEWEST, CENTOS_OWNER, "CentOS 7.8.2003 x86_64", "2020-06-02T10:00:00.000Z", "available");
        newest["deprecation_time"] = serde_json::json!(NEWEST_DEPRECATED);
        let images = serde_json::json!([
            image("ami-0c0e7f0a1b2c3d401", CENTOS_OWNER, "CentOS 7.8.2003 x86_64", "2020-04-01T10:00:00.000Z", "available"),
            newest,
            // 7.80 is not 7.8, though EC2's `7.8*` takes it.
            image("ami-0c0e7f0a1b2c3d407", CENTOS_OWNER, "CentOS 7.80.2099 x86_64", "2022-01-01T10:00:00.000Z", "available"),
            // Red Hat's Cloud Access image (bring your own subscription), newer than the hourly one.
            image(
                "ami-0e0e7f0a1b2c3d402",
                "309956199498",
                "RHEL-8.0.0_HVM-20190920-x86_64-1-Access2-GP2",
                "2019-09-20T10:00:00.000Z",
                "available"
            ),
            // Newer, but not what the directories qualify: another
            // architecture, another version, another owner, an image not yet
            // available.
            image("ami-0c0e7f0a1b2c3d402", CENTOS_OWNER, "CentOS 7.8.2003 aarch64", "2020-06-03T10:00:00.000Z", "available"),
            image("ami-0c0e7f0a1b2c3d404", CENTOS_OWNER, "CentOS 7.9.2009 x86_64", "2020-11-01T10:00:00.000Z", "available"),
            image("ami-0c0e7f0a1b2c3d405", "111122223333", "CentOS 7.8.2003 x86_64", "2021-01-01T10:00:00.000Z", "available"),
            image("ami-0c0e7f0a1b2c3d406", CENTOS_OWNER, "CentOS 7.8.2003 x86_64", "2021-02-01T10:00:00.000Z", "pending"),
            image(
                "ami-0e0e7f0a1b2c3d401",
                "309956199498",
                "RHEL-8.0.0_HVM-20190618-x86_64-1-Hourly2-GP2",
                "2019-06-18T10:00:00.000Z",
                "available"
            ),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let amis = dir.path().join("amis.json");
        std::fs::write(&amis, images.to_string()).unwrap();
        let port = free_port();
        let launcher = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sandbox/moto_server.py");
        let mut child = Command::new("python3")
            .args([launcher, "-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_AMIS_PATH", &amis)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("moto.err")).unwrap())
            .spawn()
            .expect("moto_server runs (scripts/install-tools.sh)");
        wait_for_port(port, "moto_server", &mut child);
        Moto { child, port, dir }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL_EC2", format!("http://127.0.0.1:{}", self.port)),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-west-2".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // A failed test says whether moto_server was still running, and
        // what it said (a first request was once refused after the port
        // had answered).
        if std::thread::panicking() {
            let state = match self.child.try_wait() {
                Ok(Some(status)) => format!("had exited ({status})"),
                _ => "was running".to_owned(),
            };
            let err = std::fs::read_to_string(self.dir.path().join("moto.err")).unwrap_or_default();
            let mut from = err.len().saturating_sub(4000);
            while !err.is_char_boundary(from) {
                from += 1;
            }
            let tail = &err[from..];
            eprintln!("moto_server on port {} {state}; the end of its stderr:\n{tail}", self.port);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn check_lists_newer_images_then_refresh_rewrites_in_place() {
    let moto = Moto::start();
    let tree = valid_tree();
    std::fs::write(tree.path().join(CENTOS), CENTOS_TEXT).unwrap();
    let rhel_before = std::fs::read_to_string(tree.path().join("rhel/8.0/aws/base_images.json")).unwrap();
    let refresh = |args: &[&str], code: i32| {
        let mut all = vec!["base-images", "refresh"];
        all.extend(args);
        Test::new().root(tree.path()).envs(&moto.env()).args(all).status(code)
    };

    let out = refresh(&["--check"], 1);
    for region in ["us-west-2", "us-east-1"] {
        assert!(
            out.stdout.contains(&format!(
                "{CENTOS}: {region} ami-0{}248ce88bcc7bd23 -> {NEWEST} (CentOS 7.8.2003 x86_64, created 2020-06-02T10:00:00.000Z, deprecated since {NEWEST_DEPRECATED}: the vendor has published nothing newer)",
                if region == "us-west-2" { "a" } else { "b" }
            )),
            "{}",
            out.stdout
        );
    }
    assert!(
        out.stdout.contains("rhel/8.0/aws/base_images.json: us-west-2 ami-00000000000000000 -> ami-0e0e7f0a1b2c3d401"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("newer base images exist"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(tree.path().join(CENTOS)).unwrap(), CENTOS_TEXT, "--check changes nothing");

    // Only the files under the given path.
    let centos_dir = tree.path().join("centos");
    let out = refresh(&[centos_dir.to_str().unwrap()], 0);
    assert!(!out.stdout.contains("rhel/"), "{}", out.stdout);
    assert_eq!(
        std::fs::read_to_string(tree.path().join(CENTOS)).unwrap(),
        CENTOS_TEXT.replace("ami-0a248ce88bcc7bd23", NEWEST).replace("ami-0b248ce88bcc7bd23", NEWEST),
        "each image replaced where it was, order and layout kept"
    );
    assert_eq!(std::fs::read_to_string(tree.path().join("rhel/8.0/aws/base_images.json")).unwrap(), rhel_before);
    let names: Vec<String> = std::fs::read_dir(tree.path().join("centos/7.8/aws"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') || n.contains(".tmp"))
        .collect();
    assert!(names.is_empty(), "no temporary file is left: {names:?}");
    let out = refresh(&["--check", centos_dir.to_str().unwrap()], 0);
    assert!(out.stdout.contains(&format!("{CENTOS}: up to date")), "{}", out.stdout);
}

#[test]
fn owners_and_names_come_from_dcos_images_yaml_and_a_typo_is_named() {
    let moto = Moto::start();
    let tree = valid_tree();
    let centos_dir = tree.path().join("centos");
    let run = |code: i32| {
        Test::new()
            .root(tree.path())
            .envs(&moto.env())
            .args(["base-images", "refresh", "--check", centos_dir.to_str().unwrap()])
            .status(code)
    };
    std::fs::write(
        tree.path().join("dcos-images.yaml"),
        "base_images:\n  centos:\n    owners: [\"111122223333\"]\n    name: \"CentOS {version}* x86_64\"\n",
    )
    .unwrap();
    let out = run(1);
    assert!(out.stdout.contains("-> ami-0c0e7f0a1b2c3d405"), "the configured owner's image: {}", out.stdout);

    std::fs::write(tree.path().join("dcos-images.yaml"), "base_images:\n  centos:\n    owner: [\"111122223333\"]\n    name: x\n").unwrap();
    let out = run(2);
    assert!(out.stderr.contains("dcos-images.yaml:3") && out.stderr.contains("did you mean `owners`?"), "{}", out.stderr);

    std::fs::write(
        tree.path().join("dcos-images.yaml"),
        "base_images:\n  centos:\n    owners: [\"999999999999\"]\n    name: \"CentOS {version}*\"\n",
    )
    .unwrap();
    let out = run(0);
    assert!(
        out.stderr.contains("no available image named `CentOS 7.8*` owned by 999999999999 in us-west-2; kept as it is"),
        "{}",
        out.stderr
    );
}
