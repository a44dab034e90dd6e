//! What the binary asks of the operating system through `libc`: interrupt
//! handling (SIGINT, SIGTERM) and the open-file limit. The library never
//! touches either; it offers `Handle::stop`/`abort` and treats running out
//! of descriptors as back-pressure.

use oneloop::Handle;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The write end of the self-pipe the signal handler writes to.
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

/// Set by the handler itself, so code interrupted in a blocking call (the
/// input `read`) can tell at once, before the signal thread has acted.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Has SIGINT or SIGTERM arrived?
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Async-signal-safe: an atomic store and one `write` of the signal number
/// to the self-pipe.
extern "C" fn on_signal(signal: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
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
    // No SA_RESTART: a blocking `read` of the input (a pipe that has not
    // ended) must return EINTR, so the input can end at the first signal.
    // SAFETY: zeroed sigaction and sigset are valid; the handler is
    // async-signal-safe.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGINT, libc::SIGTERM] {
            libc::sigaddset(&mut set, signal);
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    let received = Arc::new(AtomicU8::new(0));
    let first = received.clone();
    // The signal thread is born with the signals blocked (it inherits this
    // thread's mask, restored right after), so the kernel delivers them to
    // the loop's thread, whose blocking calls they interrupt.
    // SAFETY: a valid, filled sigset.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    let spawned = std::thread::Builder::new()
        .name("oneloop-signals".into())
        .spawn(move || {
            let Some(signal) = wait_byte(read_end, None) else {
                return;
            };
            first.store(signal, Ordering::SeqCst);
            errln!(
                "oneloop: interrupted: no new requests; those in flight get {grace:?} to finish (interrupt again to cancel them now)"
            );
            handle.stop();
            // A second signal, or the end of the grace period.
            let _ = wait_byte(read_end, Some(grace));
            handle.abort();
        });
    // SAFETY: as above.
    unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
    spawned?;
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

/// Makes freed large buffers go back to the operating system. glibc serves
/// big allocations with `mmap` (returned at `free`) only up to a threshold
/// that it raises after the first big free, up to 32 MiB: after a few large
/// bodies, later ones come from the heap and their memory stays in the
/// process after they are freed. A fixed threshold of 256 KiB keeps every
/// body buffer of that size or more on `mmap`.
pub fn return_big_buffers_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

/// CPU time used by the calling thread so far.
pub fn thread_cpu_time() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Takes `DIR/lock` (created if absent) for this process, or says who has
/// it: a second crawl on one `--state` directory is refused. The lock goes
/// with the returned file (closed at exit, whatever the exit).
pub fn lock_dir(dir: &str) -> std::io::Result<std::fs::File> {
    use std::os::unix::io::AsRawFd;
    std::fs::create_dir_all(dir)?;
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(std::path::Path::new(dir).join("lock"))?;
    // SAFETY: flock on a descriptor this function owns.
    let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(std::io::Error::new(
                e.kind(),
                "in use by another crawl (its lock is held): one crawl per state directory",
            ));
        }
        return Err(e);
    }
    Ok(file)
}

/// Can a file be created at `path`'s place? Tried with a probe file beside
/// it (created exclusively, removed at once): permissions alone do not
/// say (root passes them; a read-only mount does not).
pub fn check_writable(dir: &std::path::Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".oneloop-probe-{}", std::process::id()));
    std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}
