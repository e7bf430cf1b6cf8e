//! `dcos-images site`: the compatibility page, generated from the fixture
//! tree and used in a real headless Chromium through ChromeDriver
//! (`/usr/bin/chromium`, `/usr/bin/chromedriver`: Debian's chromium and
//! chromium-driver, which `.ci/run` installs). Screenshots of each test
//! land in `target/tmp/site/`.

mod common;

use common::{valid_tree, Test};
use fantoccini::{Client, ClientBuilder, Locator};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BUILT: &str = "centos/7.8/aws/DCOS-2.1.1/docker-19.03.12";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("site");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// ChromeDriver on a free loopback port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Driver {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            assert!(Path::new(tool).exists(), "{tool} is missing: scripts/install-tools.sh installs Debian's chromium and chromium-driver");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(30), "chromedriver did not listen on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver { child, url: format!("http://127.0.0.1:{port}") }
    }

    /// A headless browser with a profile of its own; no background
    /// networking (this machine has no internet to reach).
    async fn browser(&self, profile: &Path) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                         "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--window-size=1280,900", format!("--user-data-dir={}", profile.display())],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector).capabilities(caps).connect(&self.url).await.expect("a browser session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An element's text as one line (the browser breaks it where the layout does).
fn one_line(text: String) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The page and images.json of the fixture tree.
fn site() -> (tempfile::TempDir, tempfile::TempDir) {
    let tree = valid_tree();
    let out = tempfile::tempdir().unwrap();
    let done = Test::new().root(tree.path()).args(["site", "--out", out.path().to_str().unwrap()]).status(0);
    assert!(done.stdout.contains("index.html"), "{}", done.stdout);
    (tree, out)
}

#[test]
fn images_json_lists_every_build_directory_with_its_state() {
    let (_tree, out) = site();
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("images.json")).unwrap()).unwrap();
    assert_eq!(json["format"], 1);
    let dirs = json["build_directories"].as_array().unwrap();
    let state = |path: &str| dirs.iter().find(|d| d["path"] == path).unwrap()["state"].as_str().unwrap().to_owned();
    assert_eq!(dirs.len(), 3);
    assert_eq!(state(BUILT), "qualified");
    assert_eq!(state(&format!("{BUILT}/tmp_noexec")), "not-built");
    assert_eq!(state("rhel/8.0/aws/DCOS-2.2.0/docker-19.03.12"), "qualified");
    let built = dirs.iter().find(|d| d["path"] == BUILT).unwrap();
    assert_eq!(built["images"]["us-west-2"], "ami-0c1d2e3f4a5b6c7d8");
    assert_eq!(built["last_build"], "2020-09-21T17:41:25Z");
    assert_eq!(built["os_version"], "7.8");
    assert_eq!(built["dcos_release"], "2.1.1");

    // Nothing the browser would fetch: no external script, style, font or image.
    let html = std::fs::read_to_string(out.path().join("index.html")).unwrap();
    for needle in ["src=\"http", "href=\"http", "<link", "@import", "url("] {
        assert!(!html.contains(needle), "the page refers to something outside it: {needle}");
    }
}

#[test]
fn site_needs_out_and_leaves_no_temporary_file() {
    let (_tree, out) = site();
    let names: Vec<String> =
        std::fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, ["images.json", "index.html"], "no temporary file is left");
    Test::new().args(["site"]).status(2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_answers_a_query_and_opens_a_cell_in_a_real_browser() {
    let (_tree, out) = site();
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let c = driver.browser(profile.path()).await;
    let page = format!("file://{}", out.path().join("index.html").display());
    c.goto(&page).await.unwrap();

    // The matrix: a real table, rows by OS version, columns by DC/OS version.
    let headers = c.find_all(Locator::Css("#matrix thead th")).await.unwrap();
    let mut texts = Vec::new();
    for h in headers {
        texts.push(h.text().await.unwrap());
    }
    assert_eq!(texts, ["OS", "DC/OS 2.2.0", "DC/OS 2.1.1"]);
    let rows = c.find_all(Locator::Css("#matrix tbody th[scope=row]")).await.unwrap();
    assert_eq!(rows.len(), 2);

    // The question people ask, answered directly.
    let q = c.find(Locator::Id("q")).await.unwrap();
    q.send_keys("centos 7.8 2.1.1 us-west-2").await.unwrap();
    let answer = one_line(c.find(Locator::Id("answer")).await.unwrap().text().await.unwrap());
    assert!(answer.contains(&format!("ami-0c1d2e3f4a5b6c7d8 us-west-2 {BUILT}")), "{answer}");
    assert!(!answer.contains("ami-0b1c2d3e4f5a6b7c8"), "the us-east-1 image is not asked for: {answer}");
    let hidden = |sel: &'static str| {
        let c = c.clone();
        async move { c.execute(&format!("return document.querySelector('{sel}').hidden"), vec![]).await.unwrap() }
    };
    assert_eq!(hidden("tr[data-os=rhel]").await, true, "the matrix keeps what matches");
    assert_eq!(hidden("tr[data-os=centos]").await, false);
    assert_eq!(hidden(r#"th[data-col="0"]"#).await, true, "and the DC/OS versions that have something left");
    assert_eq!(hidden(r#"th[data-col="1"]"#).await, false);
    c.screenshot().await.map(|png| std::fs::write(shots().join("query.png"), png).unwrap()).unwrap();

    // A query nothing answers says so.
    q.clear().await.unwrap();
    q.send_keys("centos 7.8 2.1.1 eu-north-1").await.unwrap();
    let answer = one_line(c.find(Locator::Id("answer")).await.unwrap().text().await.unwrap());
    assert!(answer.contains("none has a qualified image in eu-north-1"), "{answer}");
    q.clear().await.unwrap();
    q.send_keys(" ").await.unwrap();
    assert_eq!(hidden("tr[data-os=rhel]").await, false, "an empty query shows everything");

    // A cell, opened from the keyboard: its images per region and its last build.
    let cell = c.find(Locator::Css("tr[data-os=centos] button.dir.qualified")).await.unwrap();
    cell.send_keys("\u{E007}").await.unwrap(); // Enter
    let details = c.find(Locator::Id("details")).await.unwrap();
    assert_eq!(details.attr("hidden").await.unwrap(), None, "the details are shown");
    let text = one_line(details.text().await.unwrap());
    assert!(text.starts_with(BUILT), "{text}");
    assert!(text.contains("last build 2020-09-21"), "{text}");
    assert!(text.contains("ami-0c1d2e3f4a5b6c7d8 us-west-2") && text.contains("ami-0b1c2d3e4f5a6b7c8 us-east-1"), "{text}");
    let focused = c.execute("return document.activeElement.id", vec![]).await.unwrap();
    assert_eq!(focused, "details", "focus follows what was opened");
    let copy = c.find(Locator::Css("#details button[aria-label='Copy ami-0c1d2e3f4a5b6c7d8 (us-west-2)']")).await.unwrap();
    copy.click().await.unwrap();
    c.screenshot().await.map(|png| std::fs::write(shots().join("cell.png"), png).unwrap()).unwrap();

    // On a phone: the page does not scroll sideways (the table does, in its box).
    c.set_window_size(390, 844).await.unwrap();
    let overflow = c.execute("return document.documentElement.scrollWidth - window.innerWidth", vec![]).await.unwrap();
    assert!(overflow.as_i64().unwrap() <= 0, "the page is wider than a phone: {overflow}");
    c.screenshot().await.map(|png| std::fs::write(shots().join("phone.png"), png).unwrap()).unwrap();

    // The real tree: 216 build directories in a table far wider than the
    // window, which scrolls in its own box; the page itself does not.
    let real = tempfile::tempdir().unwrap();
    Test::new().root(&common::corpus()).args(["site", "--out", real.path().to_str().unwrap()]).status(0);
    c.set_window_size(1280, 900).await.unwrap();
    c.goto(&format!("file://{}", real.path().join("index.html").display())).await.unwrap();
    assert_eq!(c.find_all(Locator::Css("button.dir")).await.unwrap().len(), 216);
    let overflow = c.execute("return document.documentElement.scrollWidth - window.innerWidth", vec![]).await.unwrap();
    assert!(overflow.as_i64().unwrap() <= 0, "the page is wider than the window: {overflow}");
    c.screenshot().await.map(|png| std::fs::write(shots().join("real-tree.png"), png).unwrap()).unwrap();
    // DC/OS 2.0.0 was first called 1.14.0-2.0: found by either name, as with `find`.
    let q = c.find(Locator::Id("q")).await.unwrap();
    q.send_keys("centos 7.6 2.0.0 us-west-2").await.unwrap();
    let answer = one_line(c.find(Locator::Id("answer")).await.unwrap().text().await.unwrap());
    assert!(answer.contains("centos/7.6/aws/DCOS-1.14.0-2.0/"), "{answer}");
    c.close().await.unwrap();
}
