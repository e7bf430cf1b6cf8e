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
    /// networking (this machine has no internet to reach). `dark`: the page
    /// is asked for its dark colour scheme.
    async fn browser(&self, profile: &Path, dark: bool) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                         "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--window-size=1440,900", format!("--user-data-dir={}", profile.display()),
                         format!("--blink-settings=preferredColorScheme={}", if dark { 0 } else { 1 })],
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

/// axe-core's violations of WCAG 2.1 A and AA on the page as it is now.
async fn axe(c: &Client) -> Vec<String> {
    let path = std::env::var("DCOS_IMAGES_AXE_JS").unwrap_or_else(|_| "/usr/local/share/dcos-images/axe.min.js".into());
    let source =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e} (scripts/install-tools.sh installs axe-core's axe.min.js)"));
    c.execute(&format!("{source}\nreturn true;"), vec![]).await.unwrap();
    let found = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
               .then(r => done(r.violations.map(v => v.id + ': ' + v.help + ' at ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))))
               .catch(e => done(['axe failed: ' + e]));",
            vec![],
        )
        .await
        .unwrap();
    found.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

async fn js(c: &Client, script: &str) -> serde_json::Value {
    c.execute(script, vec![]).await.unwrap_or_else(|e| panic!("{script}: {e}"))
}

async fn text_of(c: &Client, id: &str) -> String {
    one_line(c.find(Locator::Id(id)).await.unwrap().text().await.unwrap())
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(shots().join(name), png).unwrap();
}

/// Types `text` into the search box, replacing what was there.
async fn search(c: &Client, text: &str) {
    let q = c.find(Locator::Id("q")).await.unwrap();
    q.clear().await.unwrap();
    q.send_keys(text).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_answers_a_query_and_opens_a_cell_in_a_real_browser() {
    // The fixture tree, with the rhel directory publishing its base image: a
    // directory validate finds fault with.
    let tree = valid_tree();
    common::copy_tree(&common::fixtures().join("codes/published-image-is-base-image/tree"), tree.path());
    std::fs::write(tree.path().join("dcos-images.yaml"), "site:\n  repository_url: https://github.com/dcos/dcos-images/tree/master\n")
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    Test::new().root(tree.path()).args(["site", "--out", out.path().to_str().unwrap()]).status(0);
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let c = driver.browser(profile.path(), false).await;
    let page = format!("file://{}", out.path().join("index.html").display());
    c.goto(&page).await.unwrap();

    // The matrix: a row per OS version, a column per DC/OS release (folded).
    let visible_headers = js(&c, "return [...document.querySelectorAll('#matrix thead th')].filter(h => h.offsetParent !== null).map(h => h.innerText.replace(/\\s+/g, ' ').trim())").await;
    assert_eq!(visible_headers, serde_json::json!(["OS", "DC/OS 2.2 1 version ▸", "DC/OS 2.1 1 version ▸"]));
    assert_eq!(c.find_all(Locator::Css("#matrix tbody th[scope=row]")).await.unwrap().len(), 2);
    assert!(text_of(&c, "matrix-caption").await.contains("3 in all"));
    // A legend says what the colours mean.
    let legend = one_line(c.find(Locator::Css(".legend")).await.unwrap().text().await.unwrap());
    assert!(legend.contains("qualified") && legend.contains("built, not published") && legend.contains("not built"), "{legend}");

    // A folded release opens on a click: its versions get a column each.
    c.find(Locator::Css("th.group[data-group='2.1'] button.fold")).await.unwrap().click().await.unwrap();
    let shown = |sel: &str| format!("return document.querySelector(\"{sel}\").offsetParent !== null");
    assert_eq!(js(&c, &shown("th.version[data-group='2.1']")).await, true, "the versions of 2.1 are shown");
    assert_eq!(js(&c, &shown("th.group[data-group='2.1']")).await, false, "in place of the folded column");
    assert_eq!(js(&c, "return document.activeElement.dataset.when").await, "open", "focus stays on the control");
    c.find(Locator::Css("th.version[data-group='2.1'] button.fold")).await.unwrap().click().await.unwrap();
    assert_eq!(js(&c, &shown("th.group[data-group='2.1']")).await, true, "and folds again");

    // The question people ask, answered directly.
    search(&c, "centos 7.8 2.1.1 us-west-2").await;
    let answer = text_of(&c, "answer").await;
    assert!(answer.starts_with("Image: ami-0c1d2e3f4a5b6c7d8 us-west-2 centos/7.8/aws/DCOS-2.1.1/docker-19.03.12"), "{answer}");
    assert!(!answer.contains("ami-0b1c2d3e4f5a6b7c8"), "the us-east-1 image is not asked for: {answer}");
    // The address follows the query, so it can be shared.
    let shared = js(&c, "return new URLSearchParams(location.search).get('q')").await;
    assert_eq!(shared, "centos 7.8 2.1.1 us-west-2");
    let hidden = |sel: &'static str| {
        let c = c.clone();
        async move { c.execute(&format!("return document.querySelector('{sel}').hidden"), vec![]).await.unwrap() }
    };
    assert_eq!(hidden("tr[data-os=rhel]").await, true, "the matrix keeps what matches");
    assert_eq!(hidden("tr[data-os=centos]").await, false);
    assert_eq!(hidden(r#"th.group[data-group="2.2"]"#).await, true, "and the DC/OS releases that have something left");
    assert_eq!(hidden(r#"th.group[data-group="2.1"]"#).await, false);
    shot(&c, "desktop-query.png").await;

    // A path pasted as the page shows it answers that directory, every image of it.
    search(&c, BUILT).await;
    let answer = text_of(&c, "answer").await;
    assert!(answer.starts_with("2 images:"), "images are counted, not directories: {answer}");
    assert!(!answer.contains("tmp_noexec"), "the directory itself, not those inside it: {answer}");
    search(&c, "centos aws 2.1.1 us-east-1").await;
    assert!(text_of(&c, "answer").await.contains("ami-0b1c2d3e4f5a6b7c8 us-east-1"), "the cloud is understood");
    // Nothing matches: the nearest, as `find` offers them.
    search(&c, "centos 7.8 2.1.9").await;
    let answer = text_of(&c, "answer").await;
    assert!(answer.starts_with("No build directory matches. The nearest:"), "{answer}");
    assert!(answer.contains(BUILT), "2.1.1, the nearest below 2.1.9: {answer}");
    // A region nothing is published in says so.
    search(&c, "centos 7.8 2.1.1 eu-north-1").await;
    assert!(text_of(&c, "answer").await.contains("none has a qualified image in eu-north-1"));
    search(&c, " ").await;
    assert_eq!(hidden("tr[data-os=rhel]").await, false, "an empty query shows everything");

    // Filters: only qualified, one OS.
    c.find(Locator::Id("only-qualified")).await.unwrap().click().await.unwrap();
    let shown_dirs = "return [...document.querySelectorAll('#matrix td.group li')].filter(l => l.offsetParent !== null).length";
    assert_eq!(js(&c, shown_dirs).await, 2, "tmp_noexec is not built");
    c.find(Locator::Id("only-qualified")).await.unwrap().click().await.unwrap();
    js(&c, "const s = document.getElementById('os'); s.value = 'rhel'; s.dispatchEvent(new Event('change')); return true").await;
    assert_eq!(hidden("tr[data-os=centos]").await, true);
    js(&c, "const s = document.getElementById('os'); s.value = ''; s.dispatchEvent(new Event('change')); return true").await;

    // The directory validate finds fault with says so, in the matrix and its details.
    let rhel = c.find(Locator::Css("tr[data-os=rhel] td.group button.dir")).await.unwrap();
    let label = rhel.attr("aria-label").await.unwrap().unwrap();
    assert!(label.ends_with("qualified, 2 validator findings"), "{label}");
    rhel.click().await.unwrap();
    let details = text_of(&c, "details").await;
    assert!(details.contains("qualified, with 2 validator findings"), "{details}");
    assert!(
        details.contains("error [published-image-is-base-image] rhel/8.0/aws/DCOS-2.2.0/docker-19.03.12/dcos_images.yaml:2"),
        "{details}"
    );
    let link = c.find(Locator::Css("#details a")).await.unwrap().attr("href").await.unwrap();
    assert_eq!(link.as_deref(), Some("https://github.com/dcos/dcos-images/tree/master/rhel/8.0/aws/DCOS-2.2.0/docker-19.03.12"));

    // A cell opened from the keyboard; Escape closes it and gives the focus back.
    let cell = c.find(Locator::Css("tr[data-os=centos] td.group button.dir.qualified")).await.unwrap();
    cell.send_keys("\u{E007}").await.unwrap(); // Enter
    let details = c.find(Locator::Id("details")).await.unwrap();
    assert_eq!(details.attr("hidden").await.unwrap(), None, "the details are shown");
    let text = one_line(details.text().await.unwrap());
    assert!(text.starts_with(BUILT), "{text}");
    assert!(text.contains("last build 2020-09-21"), "{text}");
    assert!(text.contains("ami-0c1d2e3f4a5b6c7d8 us-west-2") && text.contains("ami-0b1c2d3e4f5a6b7c8 us-east-1"), "{text}");
    assert_eq!(js(&c, "return document.activeElement.id").await, "details", "focus follows what was opened");
    c.find(Locator::Css("#details button[aria-label='Copy ami-0c1d2e3f4a5b6c7d8 (us-west-2)']")).await.unwrap().click().await.unwrap();
    shot(&c, "desktop-details.png").await;
    assert!(axe(&c).await.is_empty(), "axe, light, details open: {:?}", axe(&c).await);
    c.find(Locator::Id("details")).await.unwrap().send_keys("\u{E00C}").await.unwrap(); // Escape
    assert_eq!(hidden("#details").await, true, "Escape closes the details");
    assert_eq!(
        js(&c, "return document.activeElement.classList.contains('dir') && document.activeElement.closest('tr').dataset.os").await,
        "centos"
    );
    assert!(axe(&c).await.is_empty(), "axe, light: {:?}", axe(&c).await);

    // On a phone: the page does not scroll sideways (the table does, in its
    // box), and details open scrolled to their title.
    c.set_window_size(390, 844).await.unwrap();
    let overflow = js(&c, "return document.documentElement.scrollWidth - window.innerWidth").await;
    assert!(overflow.as_i64().unwrap() <= 0, "the page is wider than a phone: {overflow}");
    c.find(Locator::Css("tr[data-os=rhel] td.group button.dir")).await.unwrap().click().await.unwrap();
    let top = js(&c, "return document.getElementById('details-title').getBoundingClientRect().top").await.as_f64().unwrap();
    let height = js(&c, "return window.innerHeight").await.as_f64().unwrap();
    assert!((0.0..height / 2.0).contains(&top), "the details' title is in view: {top} of {height}");
    shot(&c, "phone.png").await;
    c.close().await.unwrap();
}

/// Where the header row and the OS column are in the table's box: [the
/// header's top - the box's top, a row header's left - the box's left, how
/// far the box is scrolled down].
const STICKY: &str = "const s = document.querySelector('.scroll').getBoundingClientRect();
     const head = document.querySelector('#matrix thead th.group').getBoundingClientRect();
     const row = [...document.querySelectorAll('#matrix tbody th')].find(h => h.getBoundingClientRect().top > s.top + 60).getBoundingClientRect();
     return [head.top - s.top, row.left - s.left, document.querySelector('.scroll').scrollTop];";

#[tokio::test(flavor = "multi_thread")]
async fn the_real_tree_reads_in_two_screens_with_sticky_headers_and_passes_axe_in_both_schemes() {
    let real = tempfile::tempdir().unwrap();
    Test::new().root(&common::corpus()).args(["site", "--out", real.path().to_str().unwrap()]).status(0);
    let page = format!("file://{}", real.path().join("index.html").display());
    let driver = Driver::start();
    for dark in [false, true] {
        let profile = tempfile::tempdir().unwrap();
        let c = driver.browser(profile.path(), dark).await;
        c.goto(&page).await.unwrap();
        assert_eq!(js(&c, "return matchMedia('(prefers-color-scheme: dark)').matches").await, dark);
        // 216 directories, each once in its release's folded column.
        assert_eq!(c.find_all(Locator::Css("td.group button.dir")).await.unwrap().len(), 216);
        let overflow = js(&c, "return document.documentElement.scrollWidth - window.innerWidth").await;
        assert!(overflow.as_i64().unwrap() <= 0, "the page is wider than the window: {overflow}");
        // Folded, the matrix is at most two screens wide at 1440 px.
        let width = js(&c, "return document.getElementById('matrix').scrollWidth").await.as_f64().unwrap();
        assert!(width <= 2.0 * 1440.0, "the folded matrix is {width} px wide");
        let groups = js(&c, "return [...document.querySelectorAll('#matrix th.group')].map(h => h.dataset.group)").await;
        assert_eq!(groups, serde_json::json!(["2.2", "2.1", "2.0", "1.13", "1.12", "1.11", "1.10"]), "newest first");
        // DC/OS 1.14.0-2.0 is 2.0.0: with 2.0, not between 1.14.0-alpha and 1.13.9.
        let two = js(&c, "return [...document.querySelectorAll(\"#matrix th.version[data-group='2.0']\")].map(h => h.innerText.replace(/.*DC\\/OS /s, ''))").await;
        assert_eq!(two.as_array().unwrap()[..3], [serde_json::json!("2.0.6"), serde_json::json!("2.0.5"), serde_json::json!("2.0.3")]);
        assert!(two.as_array().unwrap().contains(&serde_json::json!("1.14.0-2.0")), "{two}");
        // Scrolled down and right in its box, the header row and the OS column stay in view.
        js(&c, "const s = document.querySelector('.scroll'); s.scrollTop = 600; s.scrollLeft = 400; return true").await;
        let boxes = js(&c, STICKY).await;
        let b: Vec<f64> = boxes.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert!(b[2] > 0.0, "the box scrolled");
        assert!(b[0].abs() <= 2.0, "the header row stays at the top of the box: {b:?}");
        assert!(b[1].abs() <= 2.0, "the OS column stays at the left of the box: {b:?}");
        shot(&c, if dark { "real-tree-dark.png" } else { "real-tree.png" }).await;
        // The same on a phone.
        c.set_window_size(390, 844).await.unwrap();
        js(&c, "const s = document.querySelector('.scroll'); s.scrollTop = 900; s.scrollLeft = 300; return true").await;
        let b: Vec<f64> = js(&c, STICKY).await.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert!(b[2] > 0.0 && b[0].abs() <= 2.0 && b[1].abs() <= 2.0, "sticky on a phone: {b:?}");
        shot(&c, if dark { "real-tree-phone-dark.png" } else { "real-tree-phone.png" }).await;
        c.set_window_size(1440, 900).await.unwrap();
        let violations = axe(&c).await;
        assert!(violations.is_empty(), "axe, {} scheme, real tree: {violations:?}", if dark { "dark" } else { "light" });
        // With a release open too.
        c.find(Locator::Css("th.group[data-group='1.13'] button.fold")).await.unwrap().click().await.unwrap();
        let violations = axe(&c).await;
        assert!(violations.is_empty(), "axe, {} scheme, 1.13 open: {violations:?}", if dark { "dark" } else { "light" });
        // DC/OS 2.0.0 was first called 1.14.0-2.0: found by either name, as with `find`.
        search(&c, "centos 7.6 2.0.0 us-west-2").await;
        assert!(text_of(&c, "answer").await.contains("centos/7.6/aws/DCOS-1.14.0-2.0/"));
        c.close().await.unwrap();
    }
}
