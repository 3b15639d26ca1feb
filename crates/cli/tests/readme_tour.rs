//! The README's quick tour, run as written: every command of its first `sh` block after "## A quick tour", in a
//! fresh directory, through `sh` (so redirections work as in a terminal), with this build's `liucun` first on
//! `PATH`. Each command must exit 0; a few outputs are checked for what the README's comments promise. When the
//! README changes, this test runs the new commands: the tour cannot drift from the binary.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The commands of the tour block, comments and blank lines removed, in order.
fn tour_commands(readme: &str) -> Vec<String> {
    let after = readme
        .split_once("## A quick tour")
        .expect("the README has a quick tour")
        .1;
    let block = after
        .split_once("```sh\n")
        .expect("the tour has an sh block")
        .1
        .split_once("\n```")
        .expect("the sh block ends")
        .0;
    block
        .lines()
        .map(|line| match line.find("  #") {
            // The comments are set off by two or more spaces; no command holds "  #".
            Some(i) => line[..i].trim(),
            None => line.trim(),
        })
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect()
}

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_liucun"))
        .parent()
        .expect("the binary has a directory")
        .to_path_buf()
}

#[test]
fn the_readme_tour_runs_as_written() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .expect("read README.md");
    let commands = tour_commands(&readme);
    assert!(commands.len() >= 10, "{commands:?}");
    assert!(
        commands.iter().all(|c| c.starts_with("liucun ")),
        "{commands:?}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let path = std::env::join_paths(std::iter::once(bin_dir()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let mut imports = 0;
    for command in &commands {
        let o = Command::new("sh")
            .args(["-c", command])
            .current_dir(tmp.path())
            .env("PATH", &path)
            .env_remove("LIUCUN_DATA")
            .env_remove("LIUCUN_BIND")
            .output()
            .expect("run sh");
        let stdout = String::from_utf8_lossy(&o.stdout);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.success(),
            "README tour: `{command}` exited {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            o.status.code()
        );
        if command.starts_with("liucun import --project lanting") {
            imports += 1;
            // The second import of the same file finds only duplicates.
            if imports == 2 {
                assert!(stdout.contains("written 0"), "`{command}`: {stdout}");
            }
        }
        if command.starts_with("liucun import --persons") {
            assert!(stdout.contains("rejected 0"), "`{command}`: {stdout}");
        }
        if command.starts_with("liucun verify") {
            assert!(stdout.starts_with("verified"), "`{command}`: {stdout}");
        }
    }
    assert_eq!(imports, 2, "{commands:?}");
    assert!(tmp.path().join("curves.svg").exists());
}
