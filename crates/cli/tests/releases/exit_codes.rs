//! The documented exit codes that need no VM: 3 when the emulator is not
//! running, 2 for a wrong command line.

use crate::harness::{Case, show, stderr};

#[tokio::test]
async fn commands_that_need_the_emulator_exit_3_when_it_is_not_running() {
    let case = Case::new("not-running");
    let cases: [(&[&str], &str); 3] = [
        (&["stop"], "the emulator is not running"),
        (
            &["credentials"],
            "error: the emulator is not running\nhint: run `stack-emulator start` first",
        ),
        (&["logs"], "error: no console log yet at "),
    ];
    for (args, expected) in cases {
        let out = case.cli(args, &[]).await;
        assert_eq!(out.status.code(), Some(3), "{args:?}\n{}", show(&out));
        assert!(stderr(&out).contains(expected), "{args:?}\n{}", show(&out));
    }
}

#[tokio::test]
async fn a_wrong_command_line_exits_2_and_help_exits_0() {
    let case = Case::new("usage");
    let out = case.cli(&["no-such-command"], &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let out = case.cli(&["--help"], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("3    the emulator is not running"),
        "{}",
        show(&out)
    );
}
