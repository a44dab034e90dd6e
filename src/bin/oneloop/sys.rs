//! What the binary asks of the operating system through `libc`: interrupt
//! handling (SIGINT, SIGTERM) and the open-file limit. The library never
//! touches either; it offers `Handle::stop`/`abort` and treats running out
//! of descriptors as back-pressure.

use oneloop::Handle;
use std::io;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The write end of the self-pipe the signal handler writes to.
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

/// Async-signal-safe: one `write` of the signal number to the self-pipe.
extern "C" fn on_signal(signal: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = signal as u8;
        // SAFETY: write(2) is async-signal-safe; the buffer is one live byte.
        unsafe {
            libc::write(fd, (&byte as *const u8).cast(), 1);
        }
    }
}

/// Installs handlers for SIGINT and SIGTERM. The first signal stops the
/// crawl (no new requests; those in flight get `grace` to finish), and the
/// second, or the end of the grace period, cancels what is still in flight,
/// so `run` returns with every outcome delivered. Returns the number of the
/// first signal received (0 while none was).
pub fn on_interrupt(handle: Handle, grace: Duration) -> io::Result<Arc<AtomicU8>> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let [read_end, write_end] = fds;
    SIGNAL_PIPE.store(write_end, Ordering::SeqCst);
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is valid; the handler only writes a byte.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    let received = Arc::new(AtomicU8::new(0));
    let first = received.clone();
    std::thread::Builder::new()
        .name("oneloop-signals".into())
        .spawn(move || {
            let Some(signal) = wait_byte(read_end, None) else {
                return;
            };
            first.store(signal, Ordering::SeqCst);
            crate::errln!(
                "oneloop: interrupted: no new requests; those in flight get {grace:?} to finish (interrupt again to cancel them now)"
            );
            handle.stop();
            // A second signal, or the end of the grace period.
            let _ = wait_byte(read_end, Some(grace));
            handle.abort();
        })?;
    Ok(received)
}

/// Blocks until a byte arrives on `fd` (or `timeout` passes: `None`).
fn wait_byte(fd: libc::c_int, timeout: Option<Duration>) -> Option<u8> {
    let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as libc::c_int);
    loop {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue; // a signal landed here first: its byte is in the pipe
        }
        if n <= 0 {
            return None;
        }
        let mut byte = 0u8;
        // SAFETY: reads one byte into a live local.
        let r = unsafe { libc::read(fd, (&mut byte as *mut u8).cast(), 1) };
        return (r == 1).then_some(byte);
    }
}

/// Descriptors kept out of the connection budget: stdio, the poll, its
/// waker, the input file, DNS sockets' share, the signal pipe.
const RESERVED_FDS: u64 = 32;

/// Raises the soft open-file limit to the hard one (as far as the kernel
/// allows) and returns how many connections it leaves room for: a quarter
/// of what is left after [`RESERVED_FDS`] goes to DNS sockets, which a
/// connection may need while it resolves.
pub fn connection_budget() -> Option<usize> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid rlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return None;
    }
    if r.rlim_cur < r.rlim_max {
        // An unlimited hard limit is not a number the kernel takes for the
        // soft one (nr_open caps it): ask for a million at most.
        let want = libc::rlimit {
            rlim_cur: r.rlim_max.min(1 << 20),
            rlim_max: r.rlim_max,
        };
        // SAFETY: a valid rlimit; failure leaves the old limit in force.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
            r.rlim_cur = want.rlim_cur;
        }
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
    let free = (r.rlim_cur as u64).saturating_sub(RESERVED_FDS);
    Some((free - free / 4).min(usize::MAX as u64) as usize)
}
