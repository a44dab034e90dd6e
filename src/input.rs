//! Where a crawl's input comes from, and why it may need a thread.
//!
//! The loop pulls input only when there is room ([`Crawler::run`] takes
//! anything that is [`IntoIterator`]), and it pulls it *on the loop's
//! thread*. That is right for an in-memory list or a generator, and wrong
//! for a source that can block: a pipe whose writer pauses, a socket, a
//! FIFO. While `next()` waits, every connection waits with it (answers that
//! came in microseconds show seconds of time to first byte).
//!
//! [`InputThread`] reads such a source on a thread of its own, into a
//! bounded channel: the loop takes what is there, and when nothing is, it
//! goes on driving connections and is woken (through its `mio::Waker`) when
//! the next item arrives. The channel is bounded, so a fast source stays at
//! most `capacity` items ahead: memory stays O(concurrency).
//!
//! ```
//! # #[cfg(feature = "demo")] {
//! use oneloop::{Config, Crawler};
//! use oneloop::input::InputThread;
//! use oneloop::demo::DemoServer;
//!
//! let server = DemoServer::start(1, 16).unwrap();
//! let urls = server.urls(100); // imagine a pipe that may stall
//! let mut crawler = Crawler::new(Config::local()).unwrap();
//! let summary = crawler.run(InputThread::new(urls, 1024), |_| {}).unwrap();
//! assert_eq!(summary.outcomes, 100);
//! # }
//! ```
//!
//! [`Crawler::run`]: crate::Crawler::run

use crate::error::{Error, Phase};
use crate::outcome::Request;
use mio::Waker;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// What the loop got when it asked for the next item.
// The item is moved once, straight into the request core: boxing it to
// shrink the other two variants would allocate once per URL.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Pull {
    /// The next item.
    Item(Request),
    /// None yet (the source is read elsewhere): the loop will be woken.
    Pending,
    /// The input is over.
    Done,
}

/// A source of input items, as the loop sees it. Implemented for every
/// iterator (through [`IntoInput`]) and for [`InputThread`].
pub trait Input {
    /// The next item, if there is one now.
    fn pull(&mut self) -> Pull;
    /// Called once before the first pull: how to wake the loop when an item
    /// arrives after a [`Pull::Pending`]. An error (no thread could be
    /// started) ends the run before anything is pulled.
    fn attach(&mut self, _waker: Arc<Waker>) -> Result<(), Error> {
        Ok(())
    }
    /// An origin's robots.txt was fetched (by the robots gate) and named
    /// these sitemaps: called at the start of a turn, before the next
    /// pull, when `RobotsConfig::report_sitemaps` is on. A crawl that
    /// follows links reads them; anything else ignores them.
    fn handle_robots_sitemaps(&mut self, _origin: &str, _sitemaps: Vec<String>) {}
}

/// Anything a crawl can take as input: every `IntoIterator` of items that
/// convert into a [`Request`] (strings, requests), and [`InputThread`].
pub trait IntoInput {
    /// The input the loop pulls from.
    type Input: Input;
    /// Turns it into that input.
    fn into_input(self) -> Self::Input;
}

/// An iterator pulled on the loop's thread (never `Pending`).
pub struct Iter<I>(I);

impl<I> Input for Iter<I>
where
    I: Iterator,
    I::Item: Into<Request>,
{
    fn pull(&mut self) -> Pull {
        match self.0.next() {
            Some(item) => Pull::Item(item.into()),
            None => Pull::Done,
        }
    }
}

impl<I> IntoInput for I
where
    I: IntoIterator,
    I::Item: Into<Request>,
{
    type Input = Iter<I::IntoIter>;
    fn into_input(self) -> Iter<I::IntoIter> {
        Iter(self.into_iter())
    }
}

type Source = Box<dyn Iterator<Item = Request> + Send>;

/// An input read on its own thread (see the [module docs](self)). The
/// thread starts with the crawl and ends when the source does, or when the
/// crawl drops the input (a stopped crawl does not wait for a blocked read).
///
/// The hand-off is a queue under a lock that the loop empties in one go:
/// one lock per batch on the loop's side, and the reader, blocked while the
/// queue is full, is woken once per batch, not once per item. (A
/// `sync_channel` woke it for every item the loop took: a futex wake and a
/// wait per URL, about half a system call per request in a 100,000-URL
/// crawl.)
pub struct InputThread {
    source: Option<(Source, usize)>,
    shared: Arc<Shared>,
    /// Items taken from the queue, handed out one per pull.
    taken: VecDeque<Request>,
    /// The queue said the input is over (once `taken` is empty too).
    done: bool,
}

/// What the reader thread and the loop share.
struct Shared {
    hand: Mutex<Hand>,
    /// The reader waits here while the queue is full.
    space: Condvar,
    /// Set by the loop when it found nothing to take: the reader wakes
    /// the loop after its next item (and only then: one wake-up per stall,
    /// not one per item).
    hungry: AtomicBool,
}

#[derive(Default)]
struct Hand {
    items: VecDeque<Request>,
    /// The source is exhausted: nothing more will come.
    done: bool,
    /// The crawl dropped the input: the reader stops.
    closed: bool,
    /// The reader waits for space.
    reader_waiting: bool,
}

impl InputThread {
    /// Reads `source` on a thread, at most `capacity` items ahead of the
    /// crawl (twice that, counting the batch the loop holds).
    pub fn new<I>(source: I, capacity: usize) -> InputThread
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Into<Request> + 'static,
    {
        let source: Source = Box::new(source.into_iter().map(Into::into));
        InputThread {
            source: Some((source, capacity.max(1))),
            shared: Arc::new(Shared {
                hand: Mutex::new(Hand::default()),
                space: Condvar::new(),
                hungry: AtomicBool::new(false),
            }),
            taken: VecDeque::new(),
            done: false,
        }
    }

    /// Takes everything queued; wakes the reader if it waited for space.
    fn take(&mut self) {
        let mut hand = lock(&self.shared.hand);
        std::mem::swap(&mut hand.items, &mut self.taken);
        self.done = hand.done;
        let wake_reader = std::mem::take(&mut hand.reader_waiting);
        drop(hand);
        if wake_reader {
            self.shared.space.notify_one();
        }
    }

    fn next_taken(&mut self) -> Option<Pull> {
        if let Some(item) = self.taken.pop_front() {
            return Some(Pull::Item(item));
        }
        self.done.then_some(Pull::Done)
    }
}

/// The queue's lock; a reader thread that panicked inside it (a source's
/// iterator panicking) cannot poison it for the loop.
fn lock(m: &Mutex<Hand>) -> std::sync::MutexGuard<'_, Hand> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The reader thread: pushes items while there is room, waits for the
/// loop to take them when there is not.
fn read_into(source: Source, capacity: usize, shared: &Shared, waker: &Waker) {
    let wake_loop = || {
        if shared.hungry.swap(false, Ordering::SeqCst) {
            let _ = waker.wake();
        }
    };
    // However the reading ends (the source ran out, or its iterator
    // panicked), the loop learns that nothing more will come.
    struct End<'a, F: Fn()>(&'a Shared, F);
    impl<F: Fn()> Drop for End<'_, F> {
        fn drop(&mut self) {
            lock(&self.0.hand).done = true; // seen by the loop...
            (self.1)(); // ...once it is woken
        }
    }
    let end = End(shared, wake_loop);
    for item in source {
        let mut hand = lock(&shared.hand);
        while hand.items.len() >= capacity && !hand.closed {
            hand.reader_waiting = true;
            hand = shared.space.wait(hand).unwrap_or_else(|e| e.into_inner());
        }
        if hand.closed {
            return; // the crawl dropped the input: stop reading
        }
        hand.items.push_back(item);
        drop(hand);
        (end.1)(); // the loop, if it waits for this item
    }
}

impl IntoInput for InputThread {
    type Input = InputThread;
    fn into_input(self) -> InputThread {
        self
    }
}

impl Input for InputThread {
    fn attach(&mut self, waker: Arc<Waker>) -> Result<(), Error> {
        let Some((source, capacity)) = self.source.take() else {
            return Ok(());
        };
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new()
            .name("oneloop-input".into())
            .spawn(move || read_into(source, capacity, &shared, &waker));
        if let Err(e) = spawned {
            self.done = true;
            return Err(Error::from_io(Phase::Admission, &e));
        }
        Ok(())
    }

    fn pull(&mut self) -> Pull {
        if self.source.is_some() {
            return Pull::Done; // not attached: nothing was read
        }
        if let Some(pull) = self.next_taken() {
            return pull;
        }
        self.take();
        if let Some(pull) = self.next_taken() {
            return pull;
        }
        // Ask to be woken, then look once more: an item queued between the
        // first look and the flag would otherwise wake nobody.
        self.shared.hungry.store(true, Ordering::SeqCst);
        self.take();
        self.next_taken().unwrap_or(Pull::Pending)
    }
}

impl Drop for InputThread {
    /// A reader waiting for space stops; one blocked in its source stops
    /// after that read (nobody waits for it).
    fn drop(&mut self) {
        let mut hand = lock(&self.shared.hand);
        hand.closed = true;
        hand.items.clear();
        drop(hand);
        self.shared.space.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Pulls until `Done`, waiting on the waker's poll when `Pending`.
    fn drain(input: &mut InputThread, poll: &mut mio::Poll) -> Vec<String> {
        let mut events = mio::Events::with_capacity(4);
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match input.pull() {
                Pull::Item(r) => got.push(r.url.as_str().to_owned()),
                Pull::Done => return got,
                Pull::Pending => {
                    assert!(Instant::now() < deadline, "never woken");
                    poll.poll(&mut events, Some(Duration::from_secs(1)))
                        .unwrap();
                }
            }
        }
    }

    fn attached(input: &mut InputThread) -> mio::Poll {
        let poll = mio::Poll::new().unwrap();
        let waker = Waker::new(poll.registry(), mio::Token(0)).unwrap();
        input.attach(Arc::new(waker)).unwrap();
        poll
    }

    #[test]
    fn every_item_once_in_order_through_a_small_queue() {
        let urls: Vec<String> = (0..10_000).map(|i| format!("http://h/{i}")).collect();
        let mut input = InputThread::new(urls.clone(), 3);
        let mut poll = attached(&mut input);
        assert_eq!(drain(&mut input, &mut poll), urls);
    }

    #[test]
    fn a_panicking_source_ends_the_input() {
        let urls = (0..10).map(|i| {
            assert!(i < 5, "the source broke");
            format!("http://h/{i}")
        });
        let mut input = InputThread::new(urls, 2);
        let mut poll = attached(&mut input);
        assert_eq!(drain(&mut input, &mut poll).len(), 5);
    }

    #[test]
    fn a_dropped_input_stops_a_reader_waiting_for_space() {
        let read = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let r2 = read.clone();
        let urls = (0..).map(move |i| {
            r2.fetch_add(1, Ordering::SeqCst);
            format!("http://h/{i}")
        });
        let mut input = InputThread::new(urls, 4);
        let _poll = attached(&mut input);
        let reader_filled_the_queue = || read.load(Ordering::SeqCst) >= 5;
        while !reader_filled_the_queue() {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(input);
        std::thread::sleep(Duration::from_millis(50));
        let after_drop = read.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(100));
        // (An endless source would be read for ever if the reader kept going.)
        assert_eq!(read.load(Ordering::SeqCst), after_drop);
        assert!(after_drop <= 6, "read {after_drop} for a queue of 4");
    }
}
