//! `crawl --follow`: the input lines are seeds, and the links of every
//! fetched HTML page are crawled too (in scope, unseen, not too deep).
//!
//! The crawl is the library's ([`oneloop::Crawler::crawl`] over the follow
//! core, [`oneloop::follow`]); this file only opens the checkpoint
//! (`--state DIR`, [`CheckpointLog`]) and says what it found.

use oneloop::follow::checkpoint::CheckpointLog;
use oneloop::follow::{Follow, FollowConfig};
use oneloop::frontier::Frontier;
use oneloop::input::InputThread;
use std::sync::Arc;

/// `--follow`: the follow core (restored from `--state` if given), the
/// crawl from `seeds`, the checkpoint synced at the end. Err: the state
/// could not be opened.
pub(crate) fn crawl_following(
    crawler: &mut oneloop::Crawler,
    seeds: InputThread,
    o: &crate::args::Options,
    rep: &mut crate::report::Reporter,
) -> Result<Result<oneloop::Summary, oneloop::Error>, String> {
    let mut config = FollowConfig {
        frontier: oneloop::frontier::FrontierConfig {
            shard: o.shard,
            max_pending_bytes: o.max_frontier_memory,
            ..o.frontier.clone()
        },
        sitemaps: o.sitemaps,
        first_id: 1,
        checkpoint: o.state.is_some(),
        ..FollowConfig::default()
    };
    let mut frontier = Frontier::new(config.frontier.clone());
    // Held for the whole crawl: a second crawl on the same state directory
    // would fetch everything twice and interleave the checkpoint.
    let _lock = match o.state.as_deref() {
        Some(dir) => Some(crate::sys::lock_dir(dir).map_err(|e| format!("--state {dir}: {e}"))?),
        None => None,
    };
    let log = match o.state.as_deref() {
        Some(dir) => {
            crate::state_id::check(dir, o)?;
            let (log, r) = CheckpointLog::open(dir.as_ref(), &mut frontier)
                .map_err(|e| format!("--state {dir}: {e}"))?;
            if r.run > 1 {
                let (run, done, again) = (r.run, r.finished, r.requeued);
                errln!(
                    "state: run {run} of {dir}: {done} URLs finished before, {again} queued again"
                );
            }
            config.first_id = r.first_id();
            Some(Arc::new(log))
        }
        None => None,
    };
    let mut core = Follow::with_frontier(config, frontier);
    rep.set_checkpoint(log.clone());
    let following = crate::page::Following {
        core: &mut core,
        log: log.clone(),
    };
    let summary = crate::page::crawl_pages(crawler, seeds, o, rep, Some(following));
    if let Some(log) = &log {
        let _ = log.flush(true);
        // The first failed write (a full disk): the crawl stopped there,
        // and the run ends with status 1 (it did not run on without a
        // checkpoint).
        if let Some(e) = log.error() {
            let dir = o.state.as_deref().unwrap_or("");
            rep.fatal = Some(format!(
                "--state {dir}: the checkpoint could not be written: {e}"
            ));
        }
    }
    let f = core.frontier();
    let (seen, bytes, spilled) = (f.seen_len(), f.seen_bytes_per_url(), f.spilled());
    // The seen-set's bytes per URL mean something only once its table is
    // past its first size (1,024 slots).
    let per_url = if seen >= 10_000 {
        format!(", {bytes:.1} bytes per seen URL in the seen-set")
    } else {
        String::new()
    };
    errln!("follow: {seen} URLs seen{per_url}, {spilled} queue batches spilled to disk");
    let widened = core.seed_redirects();
    if widened > 0 {
        errln!("follow: {widened} seeds redirected to another host, which joined the scope (seeds only: other redirects out of scope are not followed)");
    }
    Ok(summary)
}
