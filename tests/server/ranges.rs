//! The server's numeric options and their ranges, through the binary.

use super::command_line::lab;

/// Someone types a huge or a zero number for any of the server's numeric options: each has a
/// documented range, and a value outside it is one line naming the option and the bound, exit
/// status 2, before anything runs (never a panic, an abort allocating the eventlist, or a later
/// EINVAL from the epoll backend).
#[test]
fn every_numeric_server_option_has_a_range() {
    const HUGE: &str = "18446744073709551615";
    for (flag, too_small, too_large, says_max) in [
        ("--max-clients", Some("0"), "65537", "must be at most 65536"),
        ("--changelist", Some("0"), "65537", "must be at most 65536"),
        ("--eventlist", Some("0"), "65537", "must be at most 65536"),
        ("--clients", None, "4097", "must be at most 4096"),
        (
            "--read-timeout-ms",
            Some("0"),
            "86400001",
            "must be at most 86400000",
        ),
        (
            "--buffer-size",
            Some("4"),
            "67108865",
            "must be at most 67108864",
        ),
        (
            "--sndbuf",
            Some("0"),
            "268435457",
            "must be at most 268435456",
        ),
    ] {
        let mut cases = vec![
            (too_large, says_max.to_string()),
            (HUGE, says_max.to_string()),
        ];
        if let Some(small) = too_small {
            cases.push((small, "must be at least".to_string()));
        }
        for (value, says) in cases {
            let out = lab(&["server", flag, value, "--port", "0"]);
            let stderr = String::from_utf8(out.stderr).unwrap();
            assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{flag} {value}: {stderr}");
            assert!(
                stderr.starts_with(&format!("lab: {flag} {says}")),
                "{flag} {value}: {stderr}"
            );
        }
    }
    // Not a number at all: the same one line, with the range.
    let out = lab(&["server", "--eventlist", "lots"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "lab: --eventlist must be a whole number from 1 to 65536, not 'lots'\n"
    );
}
