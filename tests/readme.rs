//! The README is a newcomer's first page: it must start with the two commands,
//! document every configuration variable the code reads, and CI must run the
//! test command it gives.

use std::collections::BTreeSet;

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn the_readme_starts_with_the_run_and_test_commands() {
    let readme = read("README.md");
    let first_block = readme.split("```").nth(1).expect("a code block");
    let commands: Vec<&str> =
        first_block.lines().skip(1).map(|l| l.split('#').next().unwrap().trim()).filter(|l| !l.is_empty()).collect();
    assert_eq!(commands, ["cargo run --release", "cargo test"]);
    let before_block = readme.split("```").next().unwrap();
    assert!(before_block.lines().filter(|l| !l.trim().is_empty()).count() <= 1, "only the title comes first");
}

#[test]
fn everything_a_newcomer_may_add_to_the_two_commands_is_marked_optional() {
    let readme = read("README.md");
    let after_commands = readme.split("```").nth(2).expect("text after the first code block");
    assert!(after_commands.contains("Optional: `eval \"$(.ci/browser-tools)\"`"), "{after_commands}");
    for install in ["apt-get install", "pip install", "npm install"] {
        assert!(!after_commands.contains(install), "a required install step after the two commands: {install}");
    }
}

#[test]
fn every_configuration_variable_the_code_reads_is_in_the_readme_table() {
    let config = read("src/config.rs");
    let readme = read("README.md");
    let read_by_code: BTreeSet<&str> = config
        .split("get(\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|name| name.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .collect();
    assert!(read_by_code.len() >= 15, "found {read_by_code:?}");
    for name in read_by_code {
        assert!(readme.contains(&format!("| `{name}` |")), "README does not document {name}");
    }
}

#[test]
fn ci_runs_the_readme_test_command_on_both_backends() {
    let ci = read(".ci/run");
    let readme = read("README.md");
    let postgres_command = "TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo test";
    assert!(readme.contains(postgres_command));
    // The SQLite run is the plain command, with every Python package hidden (.ci/without-python-packages).
    assert!(ci.lines().any(|l| l.trim() == ".ci/without-python-packages cargo test"), "SQLite run");
    assert!(ci.lines().any(|l| l.trim() == postgres_command), "PostgreSQL run");
}
