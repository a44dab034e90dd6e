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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, TryRecvError};
use std::sync::Arc;

/// What the loop got when it asked for the next item.
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
pub struct InputThread {
    source: Option<(Source, usize)>,
    rx: Option<Receiver<Request>>,
    /// Set by the loop when it found the channel empty: the reader wakes
    /// the loop after its next item (and only then: one wake-up per stall,
    /// not one per item).
    hungry: Arc<AtomicBool>,
}

impl InputThread {
    /// Reads `source` on a thread, at most `capacity` items ahead of the
    /// crawl.
    pub fn new<I>(source: I, capacity: usize) -> InputThread
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Into<Request> + 'static,
    {
        let source: Source = Box::new(source.into_iter().map(Into::into));
        InputThread {
            source: Some((source, capacity.max(1))),
            rx: None,
            hungry: Arc::new(AtomicBool::new(false)),
        }
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
        let (tx, rx) = sync_channel(capacity);
        let hungry = self.hungry.clone();
        let wake = move || {
            if hungry.swap(false, Ordering::SeqCst) {
                let _ = waker.wake();
            }
        };
        let spawned = std::thread::Builder::new()
            .name("oneloop-input".into())
            .spawn(move || {
                for item in source {
                    // Blocks while the channel is full; fails once the crawl
                    // dropped the input: then stop reading.
                    if tx.send(item).is_err() {
                        return;
                    }
                    wake();
                }
                drop(tx); // the end of the input, seen by the loop...
                wake(); // ...once it is woken
            });
        spawned.map_err(|e| Error::from_io(Phase::Admission, &e))?;
        self.rx = Some(rx);
        Ok(())
    }

    fn pull(&mut self) -> Pull {
        let Some(rx) = &self.rx else {
            return Pull::Done; // not attached: nothing was read
        };
        match rx.try_recv() {
            Ok(item) => return Pull::Item(item),
            Err(TryRecvError::Disconnected) => return Pull::Done,
            Err(TryRecvError::Empty) => {}
        }
        // Ask to be woken, then look once more: an item sent between the
        // first look and the flag would otherwise wake nobody.
        self.hungry.store(true, Ordering::SeqCst);
        match rx.try_recv() {
            Ok(item) => Pull::Item(item),
            Err(TryRecvError::Disconnected) => Pull::Done,
            Err(TryRecvError::Empty) => Pull::Pending,
        }
    }
}
