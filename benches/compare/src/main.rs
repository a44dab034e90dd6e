//! `oneloop-compare PEER N C URL_PREFIX [CA_PEM]`: fetches `URL_PREFIX{i}` for
//! i in 0..N with at most C requests in flight and keep-alive, counts 200s and
//! errors, and prints one line: `ok=<n> errors=<n> secs=<s>`.
//!
//! PEER is one of:
//! - `hyper-ct`: tokio current-thread runtime + hyper-util's pooled client;
//! - `hyper-mt`: the same on tokio's multi-thread runtime;
//! - `reqwest`: reqwest (rustls with ring) on the multi-thread runtime.
//!
//! Each peer runs C workers pulling the next index from a shared counter, so
//! like oneloop it holds O(C) requests, never O(N).

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

struct Job {
    n: u64,
    next: AtomicU64,
    ok: AtomicU64,
    errors: AtomicU64,
    prefix: String,
}

impl Job {
    fn take(&self) -> Option<String> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        (i < self.n).then(|| format!("{}{i}", self.prefix))
    }
}

/// Runs C workers, each fetching the next URL with `fetch` (true = a 200
/// with its body read) until the job is done.
async fn run_workers<F, Fut>(job: Arc<Job>, c: usize, fetch: F)
where
    F: Fn(String) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let mut workers = Vec::new();
    for _ in 0..c {
        let (job, fetch) = (job.clone(), fetch.clone());
        workers.push(tokio::spawn(async move {
            while let Some(url) = job.take() {
                let counter = if fetch(url).await {
                    &job.ok
                } else {
                    &job.errors
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
}

fn tls_config(ca: Option<&str>, alpn: bool) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(path) = ca {
        for cert in CertificateDer::pem_file_iter(path).expect("CA file") {
            roots.add(cert.expect("CA cert")).expect("add root");
        }
    }
    let mut c = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    if alpn {
        c.alpn_protocols = vec![b"http/1.1".to_vec()];
    }
    c
}

async fn run_hyper(job: Arc<Job>, c: usize, ca: Option<String>) {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        // hyper-rustls sets ALPN itself (http/1.1 here).
        .with_tls_config(tls_config(ca.as_deref(), false))
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(c)
        .build(https);
    run_workers(job, c, move |url: String| {
        let client = client.clone();
        async move {
            let Ok(uri) = url.parse::<hyper::Uri>() else {
                return false;
            };
            match client.get(uri).await {
                Ok(resp) => {
                    let status = resp.status();
                    match resp.into_body().collect().await {
                        Ok(body) => {
                            std::hint::black_box(body.to_bytes().len());
                            status == 200
                        }
                        Err(_) => false,
                    }
                }
                Err(_) => false,
            }
        }
    })
    .await;
}

async fn run_reqwest(job: Arc<Job>, c: usize, ca: Option<String>) {
    let mut builder = reqwest::Client::builder()
        .pool_max_idle_per_host(c)
        .use_preconfigured_tls(tls_config(ca.as_deref(), true));
    builder = builder.http1_only();
    let client = builder.build().expect("reqwest client");
    run_workers(job, c, move |url: String| {
        let client = client.clone();
        async move {
            match client.get(&url).send().await {
                Ok(resp) => {
                    let status = resp.status();
                    match resp.bytes().await {
                        Ok(b) => {
                            std::hint::black_box(b.len());
                            status == 200
                        }
                        Err(_) => false,
                    }
                }
                Err(_) => false,
            }
        }
    })
    .await;
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        eprintln!("usage: oneloop-compare hyper-ct|hyper-mt|reqwest N C URL_PREFIX [CA_PEM]");
        std::process::exit(2);
    }
    let n: u64 = args[1].parse().expect("N");
    let c: usize = args[2].parse().expect("C");
    let ca = args.get(4).cloned();
    let job = Arc::new(Job {
        n,
        next: AtomicU64::new(0),
        ok: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        prefix: args[3].clone(),
    });
    let t = Instant::now();
    match args[0].as_str() {
        "hyper-ct" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run_hyper(job.clone(), c, ca)),
        "hyper-mt" => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run_hyper(job.clone(), c, ca)),
        "reqwest" => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run_reqwest(job.clone(), c, ca)),
        other => {
            eprintln!("unknown peer {other}");
            std::process::exit(2);
        }
    }
    println!(
        "ok={} errors={} secs={:.3}",
        job.ok.load(Ordering::Relaxed),
        job.errors.load(Ordering::Relaxed),
        t.elapsed().as_secs_f64()
    );
}
