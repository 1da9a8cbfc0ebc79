//! The accessibility and HTML checks of the pages a browser test visits:
//! axe-core run inside the page (injected through WebDriver), and the Nu HTML
//! checker (vnu.jar) over the documents as the server sent them (recorded by
//! [`super::recorder::Recorder`]), all of a test's pages in one JVM run.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};
use tempfile::TempDir;

use super::recorder::Recorder;
use super::{Browser, Tools};

/// Runs axe on the page and hands back its violations, in a compact form.
const RUN_AXE: &str = r#"
const done = arguments[arguments.length - 1];
window.axe
  .run(document, { resultTypes: ["violations"] })
  .then((results) => done({
    violations: results.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target, summary: n.failureSummary })),
    })),
    passes: results.passes.length,
  }))
  .catch((e) => done({ error: String(e) }));
"#;

pub struct Audit {
    axe_source: String,
    vnu_jar: PathBuf,
    dir: TempDir,
    /// (name, request and status, file) of each document kept.
    pages: Vec<(String, String, PathBuf)>,
    /// How many times axe ran, and on what.
    axe_runs: Vec<String>,
    problems: Vec<String>,
}

impl Audit {
    pub fn new(tools: &Tools) -> Audit {
        let axe_source = std::fs::read_to_string(&tools.axe_core_js)
            .unwrap_or_else(|e| panic!("{}: {e}", tools.axe_core_js.display()));
        Audit {
            axe_source,
            vnu_jar: tools.vnu_jar.clone(),
            dir: tempfile::tempdir().unwrap(),
            pages: Vec::new(),
            axe_runs: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// Checks the page the browser shows now: axe in the page, and the
    /// document the server sent for it kept for the HTML checker.
    pub async fn check(&mut self, name: &str, browser: &Browser, recorder: &Recorder) {
        let path = browser.path().await;
        let document = recorder.last_document().unwrap_or_else(|| panic!("{name}: no document was recorded"));
        assert_eq!(document.target, path, "{name}: the last recorded document is not the page shown");
        let request = format!("{} {} → {}", document.method, document.target, document.status);
        self.keep_document(name, &request, &document.html);
        self.axe(name, &request, browser).await;
    }

    /// Keeps a document for the HTML checker.
    pub fn keep_document(&mut self, name: &str, request: &str, html: &str) {
        let file = self.dir.path().join(format!("{:02}-{name}.html", self.pages.len() + 1));
        std::fs::write(&file, html).unwrap();
        self.pages.push((name.to_owned(), request.to_owned(), file));
    }

    /// axe alone, on the page as laid out now (e.g. at phone width).
    pub async fn axe(&mut self, name: &str, request: &str, browser: &Browser) {
        let client = browser.client();
        let loaded = client
            .execute(&format!("{}\n;return typeof window.axe;", self.axe_source), vec![])
            .await
            .unwrap_or_else(|e| panic!("{name}: injecting axe-core: {e}"));
        assert_eq!(loaded, json!("object"), "{name}: axe-core did not load");
        let result = client.execute_async(RUN_AXE, vec![]).await.unwrap_or_else(|e| panic!("{name}: axe.run: {e}"));
        if let Some(error) = result.get("error") {
            panic!("{name}: axe.run failed: {error}");
        }
        assert!(result["passes"].as_u64().unwrap_or(0) > 0, "{name}: axe ran no rule: {result}");
        self.axe_runs.push(format!("  {request} ({name})"));
        for violation in result["violations"].as_array().into_iter().flatten() {
            self.problems.push(describe_violation(name, request, violation));
        }
    }

    /// Fails the test with every axe violation and HTML error found (the HTML
    /// checker runs now, over every document kept), if there are any.
    pub fn finish(self) {
        let (runs, documents) = (self.axe_runs.len(), self.pages.len());
        let checked = self.axe_runs.join("\n");
        assert!(runs > 0, "no page was checked");
        let problems = self.problems();
        assert!(
            problems.is_empty(),
            "{} problem(s) found:\n{}\n\naxe ran on:\n{checked}",
            problems.len(),
            problems.join("\n"),
        );
        eprintln!("axe on {runs} page(s), no violation; {documents} document(s) through vnu.jar, no error:\n{checked}");
    }

    /// Every axe violation so far, and every error of the HTML checker in
    /// the documents kept, one entry each.
    pub fn problems(mut self) -> Vec<String> {
        if !self.pages.is_empty() {
            self.validate_html();
        }
        self.problems
    }

    fn validate_html(&mut self) {
        // A deep stack for its schema, and a JVM tuned for a short run. Language
        // detection only ever gives warnings, which --errors-only drops.
        let output = Command::new("java")
            .args(["-Xss4m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-jar"])
            .arg(&self.vnu_jar)
            .args(["--errors-only", "--no-langdetect", "--format", "json"])
            .args(self.pages.iter().map(|(_, _, file)| file))
            .output()
            .expect("java -jar vnu.jar runs");
        // vnu writes its JSON report to stderr and exits 1 when it found errors.
        let report: Value = serde_json::from_slice(&output.stderr).unwrap_or_else(|e| {
            panic!("vnu.jar's report is not JSON ({e}): {}", String::from_utf8_lossy(&output.stderr))
        });
        for message in report["messages"].as_array().into_iter().flatten() {
            let url = message["url"].as_str().unwrap_or("");
            let page =
                self.pages.iter().find(|(_, _, file)| url.ends_with(&*file.file_name().unwrap().to_string_lossy()));
            let (name, request) = page.map(|(n, r, _)| (n.as_str(), r.as_str())).unwrap_or((url, ""));
            self.problems.push(format!(
                "HTML {} on {name} ({request}), line {}: {}\n    {}",
                message["type"].as_str().unwrap_or("?"),
                message["lastLine"],
                message["message"].as_str().unwrap_or(""),
                message["extract"].as_str().unwrap_or("").replace('\n', " "),
            ));
        }
    }
}

fn describe_violation(name: &str, request: &str, violation: &Value) -> String {
    let nodes: Vec<String> = violation["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| format!("    {}: {}", n["target"], n["summary"].as_str().unwrap_or("").replace('\n', " ")))
        .collect();
    format!(
        "axe {} ({}) on {name} ({request}): {}\n{}",
        violation["id"].as_str().unwrap_or("?"),
        violation["impact"].as_str().unwrap_or("?"),
        violation["help"].as_str().unwrap_or(""),
        nodes.join("\n")
    )
}
