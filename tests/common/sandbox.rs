//! The local stand-ins of the real world, one set per test: moto's EC2 server,
//! an OpenSSH server on 127.0.0.1 that packer's builds connect to as the
//! unprivileged `dcos-sandbox` user, and a git repository with a bare remote.
//! Everything is stopped when the `Sandbox` is dropped.

use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

pub const SSH_USER: &str = "dcos-sandbox";
pub const KEY_PAIR: &str = "dcos-images-sandbox";
pub const BUILD_DIR: &str = "centos/7.8/aws/DCOS-2.1.1/docker-19.03.12";
/// The public tree's directory `Sandbox::public_tree` copies.
pub const PUBLIC_DIR: &str = "centos/7.8/aws/DCOS-2.1.1/docker-19.03.9-ce/selinux_enforcing";

/// (image id, state, tags) of an image in moto.
pub type OwnImage = (String, String, Vec<(String, String)>);

pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub moto_port: u16,
    pub ssh_port: u16,
    /// Where the bootstrap node serves genconf/serve.
    pub http_port: u16,
    /// Two /16 blocks of loopback addresses no other sandbox on this machine
    /// uses at the same time: the nodes of concurrent tests never share an
    /// address (the stand-in DC/OS keys its state by address).
    vpc_slots: [u8; 2],
    moto: Child,
    sshd: Child,
}

/// Claims a free `127.N.0.0/16` for this sandbox (a lock file per N).
fn claim_vpc_slot() -> u8 {
    for n in 10..=250u8 {
        let lock = std::env::temp_dir().join(format!("dcos-images-sandbox-vpc-{n}"));
        if std::fs::OpenOptions::new().write(true).create_new(true).open(&lock).is_ok() {
            return n;
        }
    }
    panic!("no free sandbox VPC block: remove stale {}/dcos-images-sandbox-vpc-* files", std::env::temp_dir().display())
}

/// A loopback port nothing listens on, never the same one twice in a test
/// process: its tests start their servers concurrently, and a port the
/// kernel handed out, took back and handed to a second test would leave
/// both tests talking to whichever server bound it first.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if GIVEN.lock().unwrap_or_else(PoisonError::into_inner).insert(port) {
            return port;
        }
    }
}

/// Waits until `child` listens on `port`.
pub fn wait_for_port(port: u16, what: &str, child: &mut Child) {
    let start = Instant::now();
    loop {
        // A connection to itself is not the server: Linux may give a connect
        // to a loopback port nobody listens on that very port as its source,
        // and the socket then connects to itself (one way a test could go on
        // before its server listened, as one once seemed to).
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(stream) if stream.local_addr().ok() != stream.peer_addr().ok() => break,
            _ => {}
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited ({status}) before listening on {port}");
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{what} did not listen on {port} within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn must_run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.status.success(), "{what}: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Sandbox {
    pub fn start() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // sshd reads the authorized keys as the sandbox user: it must be able to enter.
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let passwd = must_run(Command::new("getent").arg("passwd"), "read the user list");
        assert!(
            passwd.lines().any(|l| l.starts_with(&format!("{SSH_USER}:"))),
            "the sandbox user `{SSH_USER}` does not exist: run `scripts/install-tools.sh` (as root), which .ci/run runs"
        );

        let moto_port = free_port();
        // moto, with the EC2 it lacks (tests/sandbox/moto_server.py) and the
        // real tree's CentOS 7.8 base images, which the corpus's directories build from.
        let base_images: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(super::corpus().join("centos/7.8/aws/base_images.json")).unwrap()).unwrap();
        let extra: Vec<serde_json::Value> = base_images
            .as_object()
            .unwrap()
            .values()
            .map(|id| {
                serde_json::json!({
                    "ami_id": id, "name": format!("CentOS Linux 7 x86_64 HVM EBS {id}"), "description": "CentOS 7.8",
                    "owner_id": "125523088429", "public": true, "virtualization_type": "hvm", "architecture": "x86_64",
                    "state": "available", "platform": null, "image_type": "machine", "image_location": "aws-marketplace/centos",
                    "root_device_name": "/dev/sda1", "root_device_type": "ebs", "sriov": "simple",
                    "creation_date": "2020-05-01T00:00:00.000Z"
                })
            })
            .collect();
        std::fs::write(d.join("extra_amis.json"), serde_json::to_string(&extra).unwrap()).unwrap();
        let mut moto = Command::new("python3")
            .arg(super::manifest_dir().join("tests/sandbox/moto_server.py"))
            .args(["-H", "127.0.0.1", "-p", &moto_port.to_string()])
            .env("MOTO_EXTRA_AMIS_PATH", d.join("extra_amis.json"))
            .stdout(std::fs::File::create(d.join("moto.log")).unwrap())
            .stderr(Stdio::from(std::fs::File::create(d.join("moto.err")).unwrap()))
            .spawn()
            .expect("moto_server runs (pip install 'moto[server]'; scripts/install-tools.sh)");
        wait_for_port(moto_port, "moto_server", &mut moto);

        for name in ["host_key", "user_key"] {
            must_run(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", ""]).arg("-f").arg(d.join(name)), "ssh-keygen");
        }
        std::fs::copy(d.join("user_key.pub"), d.join("authorized_keys")).unwrap();
        // The nodes' `sudo`: the sandbox user stays itself (sshd puts bin/ first on PATH).
        std::fs::create_dir_all(d.join("bin")).unwrap();
        std::fs::write(d.join("bin/sudo"), "#!/bin/sh\nexec \"$@\"\n").unwrap();
        std::fs::set_permissions(d.join("bin/sudo"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        // Their `docker`: no engine runs here; tests/sandbox/docker serves
        // genconf/serve as the nginx container would.
        std::fs::copy(super::manifest_dir().join("tests/sandbox/docker"), d.join("bin/docker")).unwrap();
        // The bootstrap node's work directories (install.bootstrap_dir), written as the sandbox user.
        std::fs::create_dir_all(d.join("bootstrap")).unwrap();
        std::fs::set_permissions(d.join("bootstrap"), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        let opt = std::fs::metadata("/opt/mesosphere").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).ok();
        let sandbox_uid: u32 =
            passwd.lines().find(|l| l.starts_with(&format!("{SSH_USER}:"))).and_then(|l| l.split(':').nth(2)).unwrap().parse().unwrap();
        assert_eq!(
            opt,
            Some(sandbox_uid),
            "/opt/mesosphere must belong to {SSH_USER} (the stand-in DC/OS installs there): run scripts/install-tools.sh"
        );
        std::fs::create_dir_all("/run/sshd").unwrap();
        let ssh_port = free_port();
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "Port {ssh_port}\nListenAddress 0.0.0.0\nHostKey {host}\nAuthorizedKeysFile {auth}\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nAllowUsers {SSH_USER}@127.0.0.0/8\nPidFile {pid}\n\
                 SetEnv PATH={bin}:/usr/local/bin:/usr/bin:/bin\n",
                bin = d.join("bin").display(),
                host = d.join("host_key").display(),
                auth = d.join("authorized_keys").display(),
                pid = d.join("sshd.pid").display(),
            ),
        )
        .unwrap();
        let mut sshd = Command::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-f")
            .arg(d.join("sshd_config"))
            .arg("-E")
            .arg(d.join("sshd.log"))
            .spawn()
            .expect("sshd runs (apt-get install openssh-server; scripts/install-tools.sh)");
        wait_for_port(ssh_port, "sshd", &mut sshd);

        // The ssh_config the tests stage uses (ssh.config_file): the "master"
        // is the loopback sshd.
        std::fs::write(
            d.join("ssh_config"),
            format!("Host 127.*\n  Port {ssh_port}\n  IdentityFile {}\n  IdentitiesOnly yes\n", d.join("user_key").display()),
        )
        .unwrap();
        super::copy_tree(&super::manifest_dir().join("tests/sandbox/suite"), &d.join("suite"));
        // terraform installs the AWS provider from the machine's mirror, never the network.
        let mirror = std::env::var("DCOS_IMAGES_TF_MIRROR").unwrap_or_else(|_| "/opt/tf-plugins".into());
        assert!(
            Path::new(&mirror).join("registry.terraform.io/hashicorp/aws").is_dir(),
            "no terraform provider mirror at {mirror} (set DCOS_IMAGES_TF_MIRROR to the folder holding registry.terraform.io/)"
        );
        std::fs::write(d.join("terraform.rc"), format!("provider_installation {{\n  filesystem_mirror {{ path = \"{mirror}\" }}\n}}\n"))
            .unwrap();
        let sandbox =
            Sandbox { dir, moto_port, ssh_port, http_port: free_port(), vpc_slots: [claim_vpc_slot(), claim_vpc_slot()], moto, sshd };
        let key = std::fs::read(sandbox.dir.path().join("user_key.pub")).unwrap();
        sandbox.ec2("us-west-2", |c| async move {
            c.import_key_pair().key_name(KEY_PAIR).public_key_material(aws_sdk_ec2::primitives::Blob::new(key)).send().await.unwrap();
        });
        sandbox
    }

    /// The `vpc_cidr` of the sandbox's `i`-th cluster (0 or 1).
    pub fn vpc_cidr(&self, i: usize) -> String {
        format!("127.{}.0.0/16", self.vpc_slots[i])
    }

    /// The stand-in DC/OS installer, as `custom_dcos_download_path` names it.
    pub fn installer_url() -> String {
        format!("file://{}", super::manifest_dir().join("tests/sandbox/installer/dcos_generate_config.sh").display())
    }

    /// The stand-in installer's sha256 (`custom_dcos_download_sha256`).
    pub fn installer_sha256() -> String {
        let path = super::manifest_dir().join("tests/sandbox/installer/dcos_generate_config.sh");
        must_run(Command::new("sha256sum").arg(&path), "sha256sum").split_whitespace().next().unwrap().to_owned()
    }

    /// What the stand-in installer recorded of run `run_id`'s nodes:
    /// (private address, role, installed at) in the order they were installed.
    pub fn installed_nodes(&self, run_id: &str) -> Vec<(String, String, f64)> {
        let nodes = self.dir.path().join("bootstrap").join(run_id).join("installed/nodes");
        let mut out: Vec<(String, String, f64)> = std::fs::read_dir(&nodes)
            .map(|d| d.map(|e| e.unwrap().path()).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                let read = |f: &str| std::fs::read_to_string(p.join(f)).unwrap().trim().to_owned();
                (p.file_name().unwrap().to_string_lossy().into_owned(), read("role"), read("installed_at").parse().unwrap())
            })
            .collect();
        out.sort_by(|a, b| a.2.total_cmp(&b.2));
        out
    }

    /// EC2 goes away (moto stopped): every call after this fails to connect.
    pub fn stop_ec2(&mut self) {
        let _ = self.moto.kill();
        let _ = self.moto.wait();
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.moto_port)
    }

    /// The environment `dcos-images` runs with: moto's endpoint and dummy keys.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL_EC2", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-west-2".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("TF_CLI_CONFIG_FILE", self.dir.path().join("terraform.rc").to_string_lossy().into_owned()),
            ("TF_IN_AUTOMATION", "1".into()),
        ]
    }

    /// Runs `f` with an EC2 client of `region` against moto.
    pub fn ec2<F, Fut, T>(&self, region: &str, f: F) -> T
    where
        F: FnOnce(aws_sdk_ec2::Client) -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let creds = aws_sdk_ec2::config::Credentials::new("test", "test", None, None, "sandbox");
        let conf = aws_sdk_ec2::Config::builder()
            .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
            .region(aws_sdk_ec2::config::Region::new(region.to_owned()))
            .credentials_provider(creds)
            .endpoint_url(self.endpoint())
            .build();
        rt.block_on(f(aws_sdk_ec2::Client::from_conf(conf)))
    }

    /// Images owned by this account in `region`.
    pub fn own_images(&self, region: &str) -> Vec<OwnImage> {
        self.ec2(region, |c| async move {
            let out = c.describe_images().owners("self").send().await.unwrap();
            out.images()
                .iter()
                .map(|i| {
                    (
                        i.image_id().unwrap_or_default().to_owned(),
                        i.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
                        i.tags()
                            .iter()
                            .map(|t| (t.key().unwrap_or_default().to_owned(), t.value().unwrap_or_default().to_owned()))
                            .collect(),
                    )
                })
                .collect()
        })
    }

    /// The names of the security groups in `region` (packer's temporary
    /// ones are `packer_...`).
    pub fn security_group_names(&self, region: &str) -> Vec<String> {
        self.ec2(region, |c| async move {
            let out = c.describe_security_groups().send().await.unwrap();
            out.security_groups().iter().filter_map(|g| g.group_name().map(str::to_owned)).collect()
        })
    }

    /// Snapshots owned by this account in `region`.
    pub fn own_snapshots(&self, region: &str) -> Vec<String> {
        self.ec2(region, |c| async move {
            let out = c.describe_snapshots().owner_ids("self").send().await.unwrap();
            out.snapshots().iter().filter_map(|s| s.snapshot_id().map(str::to_owned)).collect()
        })
    }

    /// Instances in `region` that are not terminated.
    pub fn live_instances(&self, region: &str) -> Vec<String> {
        self.ec2(region, |c| async move {
            let out = c.describe_instances().send().await.unwrap();
            out.reservations()
                .iter()
                .flat_map(|r| r.instances())
                .filter(|i| i.state().and_then(|s| s.name()).map(|n| n.as_str()) != Some("terminated"))
                .filter_map(|i| i.instance_id().map(str::to_owned))
                .collect()
        })
    }

    /// Everything in `region` tagged `dcos-images:run-id = run_id` that is not
    /// gone, as `kind id`: instances (not terminated), VPCs, subnets, security
    /// groups, key pairs, internet gateways, route tables, volumes, network
    /// interfaces, images and snapshots.
    pub fn tagged_with_run(&self, region: &str, run_id: &str) -> Vec<String> {
        let run_id = run_id.to_owned();
        self.ec2(region, |c| async move {
            let f = aws_sdk_ec2::types::Filter::builder().name("tag:dcos-images:run-id").values(run_id).build();
            let mut out = Vec::new();
            let mut add = |kind: &str, ids: Vec<Option<String>>| out.extend(ids.into_iter().flatten().map(|id| format!("{kind} {id}")));
            let r = c.describe_instances().filters(f.clone()).send().await.unwrap();
            add(
                "instance",
                r.reservations()
                    .iter()
                    .flat_map(|r| r.instances())
                    .filter(|i| i.state().and_then(|s| s.name()).map(|n| n.as_str()) != Some("terminated"))
                    .map(|i| i.instance_id().map(str::to_owned))
                    .collect(),
            );
            let r = c.describe_vpcs().filters(f.clone()).send().await.unwrap();
            add("vpc", r.vpcs().iter().map(|v| v.vpc_id().map(str::to_owned)).collect());
            let r = c.describe_subnets().filters(f.clone()).send().await.unwrap();
            add("subnet", r.subnets().iter().map(|v| v.subnet_id().map(str::to_owned)).collect());
            let r = c.describe_security_groups().filters(f.clone()).send().await.unwrap();
            add("security-group", r.security_groups().iter().map(|v| v.group_id().map(str::to_owned)).collect());
            let r = c.describe_key_pairs().filters(f.clone()).send().await.unwrap();
            add("key-pair", r.key_pairs().iter().map(|v| v.key_name().map(str::to_owned)).collect());
            let r = c.describe_internet_gateways().filters(f.clone()).send().await.unwrap();
            add("internet-gateway", r.internet_gateways().iter().map(|v| v.internet_gateway_id().map(str::to_owned)).collect());
            let r = c.describe_route_tables().filters(f.clone()).send().await.unwrap();
            add("route-table", r.route_tables().iter().map(|v| v.route_table_id().map(str::to_owned)).collect());
            let r = c.describe_volumes().filters(f.clone()).send().await.unwrap();
            add("volume", r.volumes().iter().map(|v| v.volume_id().map(str::to_owned)).collect());
            let r = c.describe_network_interfaces().filters(f.clone()).send().await.unwrap();
            add("network-interface", r.network_interfaces().iter().map(|v| v.network_interface_id().map(str::to_owned)).collect());
            let r = c.describe_images().owners("self").filters(f.clone()).send().await.unwrap();
            add("image", r.images().iter().map(|v| v.image_id().map(str::to_owned)).collect());
            let r = c.describe_snapshots().owner_ids("self").filters(f).send().await.unwrap();
            add("snapshot", r.snapshots().iter().map(|v| v.snapshot_id().map(str::to_owned)).collect());
            out.sort();
            out
        })
    }

    /// Instances in `region` that are not terminated, with their instance
    /// type and `dcos-images:role` tag.
    pub fn live_nodes(&self, region: &str) -> Vec<(String, String)> {
        self.ec2(region, |c| async move {
            let out = c.describe_instances().send().await.unwrap();
            let mut nodes: Vec<(String, String)> = out
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
                .filter(|i| i.state().and_then(|s| s.name()).map(|n| n.as_str()) != Some("terminated"))
                .map(|i| {
                    let role = i.tags().iter().find(|t| t.key() == Some("dcos-images:role")).and_then(|t| t.value()).unwrap_or_default();
                    (role.to_owned(), i.instance_type().map(|t| t.as_str().to_owned()).unwrap_or_default())
                })
                .collect();
            nodes.sort();
            nodes
        })
    }

    /// The sandbox tree as a git repository (`repo/`) whose `origin` is a bare
    /// repository (`remote.git`), with the ports and key filled in.
    pub fn repo(&self) -> PathBuf {
        let repo = self.dir.path().join("repo");
        super::copy_tree(&super::manifest_dir().join("tests/sandbox/tree"), &repo);
        for entry in walkdir::WalkDir::new(&repo) {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy();
            if name == "packer.json" || name == "dcos-images.yaml" || name.ends_with(".tfvars") {
                let text = std::fs::read_to_string(entry.path()).unwrap();
                let text = text
                    .replace("\"@SSH_PORT@\"", &self.ssh_port.to_string())
                    .replace("@HTTP_PORT@", &self.http_port.to_string())
                    .replace("@VPC_CIDR@", &self.vpc_cidr(0))
                    .replace("@INSTALLER_SHA256@", &Sandbox::installer_sha256())
                    .replace("@SSH_KEY@", self.dir.path().join("user_key").to_str().unwrap())
                    .replace("@SANDBOX_SRC@", super::manifest_dir().join("tests/sandbox").to_str().unwrap())
                    .replace("@SANDBOX@", self.dir.path().to_str().unwrap());
                std::fs::write(entry.path(), text).unwrap();
            }
        }
        let remote = self.dir.path().join("remote.git");
        let git = |dir: &Path, args: &[&str]| {
            must_run(
                Command::new("git").args(["-c", "user.name=test", "-c", "user.email=test@example.invalid"]).args(args).current_dir(dir),
                "git",
            )
        };
        git(self.dir.path(), &["init", "-q", "--bare", "-b", "main", remote.to_str().unwrap()]);
        git(&repo, &["init", "-q", "-b", "main"]);
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", "sandbox tree"]);
        git(&repo, &["remote", "add", "origin", remote.to_str().unwrap()]);
        git(&repo, &["push", "-q", "origin", "main"]);
        repo
    }

    /// A clone of the public tree as far as one directory goes: its CentOS
    /// 7.8 base images and `PUBLIC_DIR` from the corpus, no dcos-images.yaml,
    /// a legacy profile (naming the key pair `dcos-images`, `admin_cidr =
    /// "0.0.0.0/0"`), a packer.json that makes its images public. The corpus
    /// holds no shell scripts: harmless ones stand in. (tree, directory).
    pub fn public_tree(&self) -> (PathBuf, PathBuf) {
        let tree = self.dir.path().join("public-tree");
        std::fs::create_dir_all(tree.join("centos/7.8/aws")).unwrap();
        std::fs::copy(super::corpus().join("centos/7.8/aws/base_images.json"), tree.join("centos/7.8/aws/base_images.json")).unwrap();
        super::copy_tree(&super::corpus().join(PUBLIC_DIR), &tree.join(PUBLIC_DIR));
        for script in ["dcos_vol_setup.sh", "configure_dcos_system.sh", "install_dcos_prerequisites.sh", "install_dss_modules.sh"] {
            std::fs::write(tree.join(PUBLIC_DIR).join(script), "#!/bin/sh\ntrue\n").unwrap();
        }
        let dir = tree.join(PUBLIC_DIR);
        (tree, dir)
    }

    /// The sandbox user's key as the key pair `name` in us-west-2 (as the
    /// public tree's account has `dcos-images`).
    pub fn import_key_pair(&self, name: &'static str) {
        let key = std::fs::read(self.dir.path().join("user_key.pub")).unwrap();
        self.ec2("us-west-2", |c| async move {
            c.import_key_pair().key_name(name).public_key_material(aws_sdk_ec2::primitives::Blob::new(key)).send().await.unwrap();
        });
    }

    /// The journal of the newest run under the run directory (`runs --json`).
    pub fn last_journal(&self) -> serde_json::Value {
        let runs = super::Test::new().args(["runs", "--json", "--run-dir", self.run_dir().to_str().unwrap()]).status(0).json();
        runs.as_array().unwrap().last().expect("a run").clone()
    }

    /// How many commits the bare remote's main has.
    pub fn remote_commits(&self) -> String {
        git(&self.dir.path().join("remote.git"), &["rev-list", "--count", "main"]).trim().to_owned()
    }

    pub fn run_dir(&self) -> PathBuf {
        self.dir.path().join("runs")
    }

    /// `dcos-images qualify` on `repo`, with the sandbox's environment and run directory.
    pub fn qualify(&self, repo: &Path, args: &[&str]) -> super::Test {
        super::Test::new()
            .cwd(repo)
            .envs(&self.env())
            .args(["--root", repo.to_str().unwrap(), "qualify", "--run-dir", self.run_dir().to_str().unwrap()])
            .args(args)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.moto.kill();
        let _ = self.sshd.kill();
        let _ = self.moto.wait();
        let _ = self.sshd.wait();
        // What the stand-in DC/OS left running (the bootstrap's HTTP server,
        // the masters' Mesos): every process working inside this sandbox.
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let inside = std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(self.dir.path()));
            if let (true, Ok(pid)) = (inside, entry.file_name().to_string_lossy().parse::<i32>()) {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        for n in self.vpc_slots {
            let _ = std::fs::remove_file(std::env::temp_dir().join(format!("dcos-images-sandbox-vpc-{n}")));
        }
    }
}

/// `git` in `dir`, its stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    must_run(Command::new("git").args(args).current_dir(dir), "git")
}
