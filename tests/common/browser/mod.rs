//! A real browser for the tests: headless Chromium driven through chromedriver
//! (WebDriver) with fantoccini, acting as a person does — typing into the field
//! a label names, pressing the button with a given text, reading the heading,
//! the notice and the field errors on the page. With JavaScript on, or off
//! (Chrome's content setting, checked by [`Browser::start`]).
//!
//! The tools are found through environment variables, with defaults where
//! `.ci/browser-tools` installs them:
//!
//! | variable | default |
//! |---|---|
//! | `CHROMEDRIVER` | `/usr/bin/chromedriver`, else `chromedriver` on `PATH` |
//! | `CHROMIUM` | `/usr/bin/chromium` if it exists (else chromedriver looks for a Chrome itself) |
//! | `AXE_CORE_JS` | `$HOME/.cache/tradebot-browser-tools/node_modules/axe-core/axe.min.js` |
//! | `VNU_JAR` | `$HOME/.cache/tradebot-browser-tools/node_modules/vnu-jar/build/dist/vnu.jar` |
//!
//! When one is missing the test says so on stderr and passes without running,
//! unless `TRADEBOT_BROWSER_TESTS=required` (as `.ci/run` sets), which makes a
//! missing tool a failure.
#![allow(dead_code)]

pub mod audit;
pub mod recorder;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// How long a page may take to show what a step waits for.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// The tools a browser test needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Chromium and chromedriver.
    Browser,
    /// axe-core and the Nu HTML checker (with Java) as well.
    Checkers,
}

#[derive(Debug)]
pub struct Tools {
    pub chromedriver: PathBuf,
    pub chromium: Option<PathBuf>,
    pub axe_core_js: PathBuf,
    pub vnu_jar: PathBuf,
    /// What is missing for [`Need::Browser`] and for [`Need::Checkers`].
    missing_browser: Vec<String>,
    missing_checkers: Vec<String>,
}

fn tools_cache() -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache/tradebot-browser-tools/node_modules")
}

fn from_env(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(program)).find(|p| p.is_file())
}

fn runs(program: &Path, arg: &str) -> bool {
    Command::new(program).arg(arg).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

impl Tools {
    fn find() -> Tools {
        let chromedriver = from_env("CHROMEDRIVER")
            .or_else(|| Some(PathBuf::from("/usr/bin/chromedriver")).filter(|p| p.is_file()))
            .or_else(|| on_path("chromedriver"))
            .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"));
        let chromium =
            from_env("CHROMIUM").or_else(|| Some(PathBuf::from("/usr/bin/chromium")).filter(|p| p.is_file()));
        let axe_core_js = from_env("AXE_CORE_JS").unwrap_or_else(|| tools_cache().join("axe-core/axe.min.js"));
        let vnu_jar = from_env("VNU_JAR").unwrap_or_else(|| tools_cache().join("vnu-jar/build/dist/vnu.jar"));

        let mut missing_browser = Vec::new();
        if !runs(&chromedriver, "--version") {
            missing_browser.push(format!("chromedriver ({} does not run; set CHROMEDRIVER)", chromedriver.display()));
        }
        match &chromium {
            Some(path) if !path.is_file() => {
                missing_browser.push(format!("chromium ({} does not exist; set CHROMIUM)", path.display()))
            }
            None if on_path("chromium").is_none() && on_path("google-chrome").is_none() => {
                missing_browser.push("chromium (not found; set CHROMIUM)".into())
            }
            _ => {}
        }
        let mut missing_checkers = Vec::new();
        if !axe_core_js.is_file() {
            missing_checkers.push(format!("axe-core ({} does not exist; set AXE_CORE_JS)", axe_core_js.display()));
        }
        if !vnu_jar.is_file() {
            missing_checkers.push(format!("vnu.jar ({} does not exist; set VNU_JAR)", vnu_jar.display()));
        }
        if !runs(Path::new("java"), "-version") {
            missing_checkers.push("java (for vnu.jar; not on PATH)".into());
        }
        Tools { chromedriver, chromium, axe_core_js, vnu_jar, missing_browser, missing_checkers }
    }

    fn missing(&self, need: Need) -> Vec<String> {
        match need {
            Need::Browser => self.missing_browser.clone(),
            Need::Checkers => self.missing_browser.iter().chain(&self.missing_checkers).cloned().collect(),
        }
    }
}

/// Whether a missing tool fails the test (`TRADEBOT_BROWSER_TESTS=required`).
pub fn required() -> bool {
    std::env::var("TRADEBOT_BROWSER_TESTS").is_ok_and(|v| v == "required")
}

/// The tools, if everything `need` asks for is there. Otherwise says on stderr
/// (past the test harness's capture, so a plain `cargo test` shows it) that
/// the test was skipped and why — or panics when the tools are required.
pub fn tools(test: &str, need: Need) -> Option<&'static Tools> {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    let tools = TOOLS.get_or_init(Tools::find);
    let missing = tools.missing(need);
    if missing.is_empty() {
        return Some(tools);
    }
    let why = missing.join(", ");
    if required() {
        panic!("browser test {test}: TRADEBOT_BROWSER_TESTS=required, but missing: {why}");
    }
    // Once per binary and reason, whatever the number of tests it skips.
    static SAID: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut said = SAID.lock().unwrap_or_else(|e| e.into_inner());
    if !said.contains(&why) {
        let _ = writeln!(
            std::io::stderr(),
            "\nSKIPPED: browser tests (tests/browser.rs), missing {why}. `.ci/browser-tools` installs \
             what they need; TRADEBOT_BROWSER_TESTS=required makes a missing tool a failure.\n"
        );
        said.push(why);
    }
    None
}

// ---- chromedriver ----------------------------------------------------------

/// A chromedriver process on a free loopback port, shared by the tests of a
/// binary that run at the same time and stopped (with every browser it
/// started) when the last of them drops it.
pub struct ChromeDriver {
    port: u16,
    child: Mutex<Child>,
}

impl ChromeDriver {
    pub fn shared(tools: &Tools) -> Arc<ChromeDriver> {
        static RUNNING: Mutex<Weak<ChromeDriver>> = Mutex::new(Weak::new());
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(driver) = running.upgrade() {
            return driver;
        }
        let driver = Arc::new(ChromeDriver::start(tools));
        *running = Arc::downgrade(&driver);
        driver
    }

    fn start(tools: &Tools) -> ChromeDriver {
        let port = super::free_port();
        let child = Command::new(&tools.chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} starts: {e}", tools.chromedriver.display()));
        let driver = ChromeDriver { port, child: Mutex::new(child) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !driver.http_get("/status").is_some_and(|r| r.contains("\"ready\":true")) {
            assert!(Instant::now() < deadline, "chromedriver did not get ready on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A bare HTTP/1.1 GET (for `/status` and `/shutdown`, outside any
    /// runtime). chromedriver keeps the connection open whatever the request
    /// says, so the answer is read up to its `Content-Length`.
    fn http_get(&self, path: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n", self.port).ok()?;
        let mut answer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&answer).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case("content-length")))
                    .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if body.len() >= length {
                    return Some(text);
                }
            }
            match stream.read(&mut chunk) {
                Ok(0) => return Some(text),
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
                Err(_) => return None,
            }
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // `/shutdown` ends every session and its browser; then the process goes.
        let _ = self.http_get("/shutdown");
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

// ---- the browser -----------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Javascript {
    On,
    Off,
}

/// A viewport size, in CSS pixels.
#[derive(Clone, Copy, Debug)]
pub struct Viewport {
    pub name: &'static str,
    pub width: u32,
    pub height: u32,
    pub mobile: bool,
}

pub const DESKTOP: Viewport = Viewport { name: "desktop", width: 1280, height: 800, mobile: false };
pub const PHONE: Viewport = Viewport { name: "phone", width: 390, height: 844, mobile: true };

/// One browser session (a fresh profile: no cookies) on the site at `base`.
pub struct Browser {
    client: Client,
    base: String,
    pub javascript: Javascript,
    driver: Arc<ChromeDriver>,
    session_id: String,
    http: reqwest::Client,
}

/// The elements whose right edge is past `arguments[0]` CSS pixels.
const WIDER_THAN_THE_SCREEN: &str = r##"
const limit = arguments[0];
return Array.from(document.querySelectorAll("body *"))
  .filter((e) => e.getBoundingClientRect().right > limit + 0.5)
  .map((e) => `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""}${e.className ? "." + e.className : ""}`
    + ` (right edge ${Math.round(e.getBoundingClientRect().right)})`)
  .slice(0, 20);
"##;

/// A string as an XPath literal.
fn xpath_literal(text: &str) -> String {
    if !text.contains('\'') {
        format!("'{text}'")
    } else if !text.contains('"') {
        format!("\"{text}\"")
    } else {
        let parts: Vec<String> = text.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

fn button_xpath(text: &str, row: Option<&str>) -> String {
    let mut xpath = format!("//button[starts-with(normalize-space(.), {})", xpath_literal(text));
    if let Some(row) = row {
        xpath.push_str(&format!(" and contains(normalize-space(.), {})", xpath_literal(row)));
    }
    xpath.push(']');
    xpath
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Browser {
    /// Starts a headless Chromium on the site at `base` (an `http://host:port`),
    /// with JavaScript on or off — and checks that it really is what was asked
    /// for, on a page whose script changes its title.
    pub async fn start(tools: &Tools, base: &str, javascript: Javascript) -> Browser {
        let driver = ChromeDriver::shared(tools);
        let mut options = json!({
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-dev-shm-usage",
                "--disable-gpu",
                "--window-size=1280,900",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                "--disable-features=Translate,OptimizationHints,MediaRouter",
                "--lang=en-GB",
            ],
        });
        if let Some(chromium) = &tools.chromium {
            options["binary"] = json!(chromium.display().to_string());
        }
        if javascript == Javascript::Off {
            options["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), options);
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&driver.url())
            .await
            .unwrap_or_else(|e| panic!("a Chromium session through chromedriver: {e}"));
        let session_id = client.session_id().await.unwrap().expect("a WebDriver session id");
        let browser = Browser {
            client,
            base: base.trim_end_matches('/').to_owned(),
            javascript,
            driver,
            session_id,
            http: super::client_builder().build().unwrap(),
        };
        browser.assert_javascript_is(javascript).await;
        browser
    }

    /// A page whose inline script retitles it: the title tells whether the
    /// browser ran it. (WebDriver's own script commands run even with page
    /// JavaScript off, through the DevTools protocol, so they cannot tell.)
    async fn assert_javascript_is(&self, expected: Javascript) {
        let probe = "data:text/html,<!doctype html><title>script did not run</title>\
                     <script>document.title = 'script ran'</script>";
        self.client.goto(probe).await.expect("the JavaScript probe page opens");
        let title = self.client.title().await.unwrap();
        let ran = title == "script ran";
        assert_eq!(ran, expected == Javascript::On, "JavaScript was to be {expected:?}; the probe page says `{title}`");
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn url_of(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Goes to a path of the site, as typing it into the address bar (or
    /// following a link from a mail) does.
    pub async fn open(&self, path: &str) {
        self.client.goto(&self.url_of(path)).await.unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    /// The path (and query) of the current page.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    async fn find(&self, xpath: &str) -> Option<Element> {
        self.client.find_all(Locator::XPath(xpath)).await.ok()?.into_iter().next()
    }

    /// Waits for an element (the page after a click may still be loading).
    async fn wait_for(&self, xpath: &str, what: &str) -> Element {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            if let Some(element) = self.find(xpath).await {
                return element;
            }
            if Instant::now() > deadline {
                panic!("{what} not found on {}:\n{}", self.path().await, self.visible_text().await);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The input (or select) that the label with this text names.
    async fn field(&self, label: &str) -> Element {
        let xpath = format!("//label[normalize-space(.)={}]", xpath_literal(label));
        let label_element = self.wait_for(&xpath, &format!("the label `{label}`")).await;
        let id = label_element.attr("for").await.unwrap().unwrap_or_else(|| panic!("label `{label}` has no `for`"));
        self.client
            .find(Locator::Id(&id))
            .await
            .unwrap_or_else(|e| panic!("label `{label}` names #{id}, which is not on the page: {e}"))
    }

    /// Types `value` into the field labelled `label` (replacing what is there).
    pub async fn fill(&self, label: &str, value: &str) {
        let field = self.field(label).await;
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap_or_else(|e| panic!("typing into `{label}`: {e}"));
    }

    /// The current value of the field labelled `label`.
    pub async fn value_of(&self, label: &str) -> String {
        self.field(label).await.prop("value").await.unwrap().unwrap_or_default()
    }

    /// Ticks the checkbox labelled `label`.
    pub async fn tick(&self, label: &str) {
        let field = self.field(label).await;
        if !field.is_selected().await.unwrap() {
            field.click().await.unwrap();
        }
        assert!(field.is_selected().await.unwrap(), "`{label}` is ticked");
    }

    /// Picks the option with this text in the select labelled `label`.
    pub async fn choose(&self, label: &str, option: &str) {
        let select = self.field(label).await;
        select.select_by_label(option).await.unwrap_or_else(|e| panic!("`{option}` in `{label}`: {e}"));
    }

    /// Presses the button whose text starts with `text`.
    pub async fn press(&self, text: &str) {
        self.press_in(text, None).await
    }

    /// Presses the button whose text starts with `text` and also names `row`
    /// (a row's button says which row it acts on, for screen readers).
    pub async fn press_for(&self, text: &str, row: &str) {
        self.press_in(text, Some(row)).await
    }

    /// Whether the page has a button whose text starts with `text` (and names `row`).
    pub async fn has_button(&self, text: &str, row: Option<&str>) -> bool {
        self.find(&button_xpath(text, row)).await.is_some()
    }

    async fn press_in(&self, text: &str, row: Option<&str>) {
        let xpath = button_xpath(text, row);
        let button = self.wait_for(&xpath, &format!("the button `{text}` {}", row.unwrap_or(""))).await;
        let before = self.document().await;
        button.click().await.unwrap_or_else(|e| panic!("pressing `{text}`: {e}"));
        self.wait_for_next_page(before, &format!("pressing `{text}`")).await;
    }

    /// Follows the link with this text.
    pub async fn follow(&self, text: &str) {
        let xpath = format!("//a[normalize-space(.)={}]", xpath_literal(text));
        let link = self.wait_for(&xpath, &format!("the link `{text}`")).await;
        let before = self.document().await;
        link.click().await.unwrap_or_else(|e| panic!("following `{text}`: {e}"));
        self.wait_for_next_page(before, &format!("following `{text}`")).await;
    }

    /// The current document's root element.
    async fn document(&self) -> Element {
        self.client.find(Locator::Css("html")).await.expect("a document")
    }

    /// Every button and link of these pages leads to another page (the forms
    /// are plain HTML forms): waits until the old document is gone, so that
    /// what the test reads next is the new page, even when it has the same
    /// heading (a form shown again with its errors).
    async fn wait_for_next_page(&self, before: Element, what: &str) {
        let deadline = Instant::now() + STEP_TIMEOUT;
        while before.attr("lang").await.is_ok() {
            assert!(Instant::now() < deadline, "{what} did not lead to another page");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.wait_for("//body", "the new page").await;
    }

    /// Waits until the page's main heading is `expected`.
    pub async fn expect_heading(&self, expected: &str) {
        let xpath = format!("//h1[normalize-space(.)={}]", xpath_literal(expected));
        self.wait_for(&xpath, &format!("the heading `{expected}`")).await;
    }

    /// The page's main heading.
    pub async fn heading(&self) -> String {
        let h1 = self.wait_for("//h1", "a main heading").await;
        collapse(&h1.text().await.unwrap())
    }

    /// Everything the page shows, whitespace collapsed.
    pub async fn visible_text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => collapse(&body.text().await.unwrap_or_default()),
            Err(_) => String::new(),
        }
    }

    /// Asserts that the page shows `text`.
    pub async fn expect_text(&self, text: &str) {
        let shown = self.visible_text().await;
        assert!(shown.contains(text), "`{text}` is not on {}:\n{shown}", self.path().await);
    }

    /// Asserts that the page does not show `text`.
    pub async fn expect_no_text(&self, text: &str) {
        let shown = self.visible_text().await;
        assert!(!shown.contains(text), "`{text}` is on {}:\n{shown}", self.path().await);
    }

    /// The one-off message at the top of the page, if any.
    pub async fn notice(&self) -> Option<String> {
        let element = self.find("//main/p[contains(concat(' ', @class, ' '), ' notice ')]").await?;
        Some(collapse(&element.text().await.unwrap()))
    }

    /// Asserts the notice at the top of the page starts with `expected`.
    pub async fn expect_notice(&self, expected: &str) {
        let notice = self.notice().await;
        assert!(
            notice.as_deref().is_some_and(|n| n.starts_with(expected)),
            "notice `{expected}…` expected on {}, found {notice:?}:\n{}",
            self.path().await,
            self.visible_text().await
        );
    }

    /// The error shown next to the field labelled `label` (the element its
    /// `aria-describedby` names first, as a screen reader reads it).
    pub async fn field_error(&self, label: &str) -> Option<String> {
        let field = self.field(label).await;
        if field.attr("aria-invalid").await.unwrap().as_deref() != Some("true") {
            return None;
        }
        let described_by = field.attr("aria-describedby").await.unwrap().unwrap_or_default();
        let id = described_by.split_whitespace().find(|id| id.ends_with("-error"))?;
        let error = self.client.find(Locator::Id(id)).await.ok()?;
        Some(collapse(&error.text().await.unwrap()))
    }

    /// Asserts the field labelled `label` shows an error containing `expected`.
    pub async fn expect_field_error(&self, label: &str, expected: &str) {
        let error = self.field_error(label).await;
        assert!(
            error.as_deref().is_some_and(|e| e.contains(expected)),
            "error `{expected}` expected at `{label}`, found {error:?}:\n{}",
            self.visible_text().await
        );
    }

    /// The cell texts of each row of the page's first table body.
    pub async fn table_rows(&self) -> Vec<String> {
        let rows = self.client.find_all(Locator::Css("tbody tr")).await.unwrap();
        let mut texts = Vec::new();
        for row in rows {
            texts.push(collapse(&row.text().await.unwrap()));
        }
        texts
    }

    /// The row of the table that contains `text`.
    pub async fn row_with(&self, text: &str) -> String {
        let rows = self.table_rows().await;
        rows.iter().find(|r| r.contains(text)).cloned().unwrap_or_else(|| panic!("no row with `{text}` in {rows:#?}"))
    }

    /// A command of the DevTools protocol, through chromedriver.
    pub async fn devtools(&self, cmd: &str, params: Value) -> Value {
        let url = format!("{}/session/{}/goog/cdp/execute", self.driver.url(), self.session_id);
        let response = self.http.post(url).json(&json!({ "cmd": cmd, "params": params })).send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(status.is_success(), "{cmd}: {status} {body}");
        body["value"].clone()
    }

    /// Lays the current page out in `viewport` (as a phone does, when mobile:
    /// the page's `<meta name=viewport>` applies) until [`Browser::reset_viewport`].
    pub async fn use_viewport(&self, viewport: Viewport) {
        let params = json!({
            "width": viewport.width,
            "height": viewport.height,
            "deviceScaleFactor": 1,
            "mobile": viewport.mobile,
        });
        self.devtools("Emulation.setDeviceMetricsOverride", params).await;
        self.client.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();
        let expected = json!([viewport.width, viewport.height]);
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let size = self.client.execute("return [window.innerWidth, window.innerHeight]", vec![]).await.unwrap();
            if size == expected {
                return;
            }
            if Instant::now() > deadline {
                // A phone zooms out to fit content wider than its screen: name what sticks out.
                let wide = self.client.execute(WIDER_THAN_THE_SCREEN, vec![json!(viewport.width)]).await.unwrap();
                panic!("the {} viewport is {size}, not {expected}: the page is wider than it; {wide}", viewport.name);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn reset_viewport(&self) {
        self.devtools("Emulation.clearDeviceMetricsOverride", json!({})).await;
    }

    /// A PNG of what the viewport shows.
    pub async fn screenshot(&self) -> Vec<u8> {
        self.client.screenshot().await.expect("a screenshot")
    }

    /// Cookies the browser holds for the site (`HttpOnly` ones too).
    pub async fn cookies(&self) -> Vec<fantoccini::cookies::Cookie<'static>> {
        self.client.get_all_cookies().await.unwrap()
    }

    /// Forgets every cookie, as when they expire.
    pub async fn forget_cookies(&self) {
        self.client.delete_all_cookies().await.unwrap();
    }

    pub async fn close(self) {
        let Browser { client, driver, .. } = self;
        client.close().await.expect("the browser session closes");
        drop(driver);
    }
}
