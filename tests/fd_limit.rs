//! Running out of file descriptors in the middle of a crawl is
//! back-pressure, not failure: requests wait for a descriptor to free up.
//! Its own test binary, because it lowers this process's open-file limit;
//! the server runs in a child process (this binary again, as
//! `server_child`), so its sockets do not count against that limit.

use oneloop::{Config, Crawler};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};

/// Not a test when run by the harness: the server half, when the parent
/// starts this binary with `ONELOOP_FD_SERVER=1`.
#[test]
fn server_child() {
    if std::env::var_os("ONELOOP_FD_SERVER").is_none() {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    println!("PORT={}", listener.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if line == "\r\n" {
                    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                    if stream.write_all(ok).is_err() {
                        return;
                    }
                }
            }
        });
    }
}

fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").unwrap().count() as u64
}

#[test]
fn running_out_of_descriptors_makes_requests_wait_not_fail() {
    let mut server = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "server_child", "--nocapture", "--test-threads=1"])
        .env("ONELOOP_FD_SERVER", "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(server.stdout.take().unwrap());
    let port = loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the server did not start"
        );
        // The harness may have printed "test server_child ... " before it.
        if let Some(i) = line.find("PORT=") {
            break line[i + 5..].trim().parse::<u16>().unwrap();
        }
    };
    // Room for about 30 sockets beyond what is open now, with 200 wanted.
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid rlimit structs; this test binary runs no other crawl.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut old), 0);
        let low = libc::rlimit {
            rlim_cur: open_fds() + 32,
            rlim_max: old.rlim_max,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &low), 0);
    }
    let config = Config {
        concurrency: 200,
        per_host: 200,
        ..Config::local()
    };
    let urls: Vec<String> = (0..2000)
        .map(|i| format!("http://127.0.0.1:{port}/{i}"))
        .collect();
    let mut errors = Vec::new();
    let summary = Crawler::new(config).unwrap().run(urls, |o| {
        if let Err(e) = &o.result {
            errors.push(e.to_string());
        }
    });
    // SAFETY: restores the limit read above.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) };
    let _ = server.kill();
    let mut rest = Vec::new();
    let _ = out.read_to_end(&mut rest);
    let _ = server.wait();
    let summary = summary.unwrap();
    assert_eq!(summary.outcomes, 2000);
    assert!(
        errors.is_empty(),
        "{} errors, e.g. {:?}",
        errors.len(),
        errors.first()
    );
    assert!(
        summary.descriptor_waits > 0,
        "the limit was hit and waited out: {summary}"
    );
    assert!(summary.pool.opened < 2000, "{summary}");
}
