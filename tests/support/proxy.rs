//! A fault-injecting TCP proxy on 127.0.0.1 between DSP and a database server:
//! it forwards bytes until told to stall (stop forwarding in both directions,
//! keeping every socket open: a network that drops packets without a reset) or
//! to cut (close every connection at once: a reset mid-conversation).
//!
//! It only ever connects to the upstream address it was given, which tests take
//! from the local test servers' URLs, and stops when dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const FORWARD: u8 = 0;
const STALL: u8 = 1;
const CUT: u8 = 2;

pub struct Proxy {
    pub addr: SocketAddr,
    mode: Arc<AtomicU8>,
    /// Bumped on every mode change so that waiting pumps look again.
    changed: watch::Sender<u8>,
    /// Bytes forwarded server → client, over all connections.
    pub downstream: Arc<AtomicU64>,
    /// Stall or cut once this many server → client bytes have passed (0: never).
    trigger_after: Arc<AtomicU64>,
    trigger_mode: Arc<AtomicU8>,
    cut_after: Arc<std::sync::Mutex<Option<Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Starts forwarding 127.0.0.1:<free port> to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let mode = Arc::new(AtomicU8::new(FORWARD));
        let (changed, _) = watch::channel(FORWARD);
        let downstream = Arc::new(AtomicU64::new(0));
        let trigger_after = Arc::new(AtomicU64::new(0));
        let trigger_mode = Arc::new(AtomicU8::new(STALL));
        let cut_after = Arc::new(std::sync::Mutex::new(None));
        let shared = Shared {
            cut_after: cut_after.clone(),
            mode: mode.clone(),
            changed: changed.clone(),
            downstream: downstream.clone(),
            trigger_after: trigger_after.clone(),
            trigger_mode: trigger_mode.clone(),
        };
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if shared.mode.load(Ordering::SeqCst) == CUT {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                tokio::spawn(pipe(client, server, shared.clone()));
            }
        });
        Proxy {
            addr,
            mode,
            changed,
            downstream,
            trigger_after,
            trigger_mode,
            cut_after,
            task,
        }
    }

    /// Cuts every connection right after forwarding to the server a chunk
    /// that holds `bytes` (a statement), before any answer can come back.
    pub fn cut_after_sending(&self, bytes: &[u8]) {
        *self.cut_after.lock().unwrap() = Some(bytes.to_vec());
    }

    /// The upstream of a test server URL (`scheme://user@host:port/db`).
    pub fn upstream_of(url: &str) -> SocketAddr {
        let rest = url.split("://").nth(1).unwrap_or("");
        let hostpart = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
        let hostport = hostpart.split('/').next().unwrap_or("");
        let hostport = hostport.replace("localhost", "127.0.0.1");
        hostport.parse().expect("a test server URL with host:port")
    }

    /// Stops forwarding; connections stay open and silent.
    pub fn stall(&self) {
        self.set(STALL);
    }

    /// Closes every connection, and refuses new ones until `forward`.
    pub fn cut(&self) {
        self.set(CUT);
    }

    /// Forwards again (new connections; a stalled one resumes).
    pub fn forward(&self) {
        self.set(FORWARD);
    }

    /// Stalls (or cuts, with `cut`) by itself once `bytes` more bytes have gone
    /// from the server to DSP: a fault at a chosen point of the conversation.
    pub fn fault_after(&self, bytes: u64, cut: bool) {
        self.trigger_mode
            .store(if cut { CUT } else { STALL }, Ordering::SeqCst);
        self.trigger_after.store(
            self.downstream.load(Ordering::SeqCst) + bytes.max(1),
            Ordering::SeqCst,
        );
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
        let _ = self.changed.send(mode);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.set(CUT);
        self.task.abort();
    }
}

#[derive(Clone)]
struct Shared {
    cut_after: Arc<std::sync::Mutex<Option<Vec<u8>>>>,
    mode: Arc<AtomicU8>,
    changed: watch::Sender<u8>,
    downstream: Arc<AtomicU64>,
    trigger_after: Arc<AtomicU64>,
    trigger_mode: Arc<AtomicU8>,
}

impl Shared {
    /// Waits while stalled; false once the connection is to be cut.
    async fn may_forward(&self) -> bool {
        let mut rx = self.changed.subscribe();
        loop {
            match self.mode.load(Ordering::SeqCst) {
                FORWARD => return true,
                CUT => return false,
                _ => {
                    if rx.changed().await.is_err() {
                        return false;
                    }
                }
            }
        }
    }

    fn holds_cut_pattern(&self, chunk: &[u8]) -> bool {
        let pattern = self.cut_after.lock().ok().and_then(|p| p.clone());
        pattern.is_some_and(|p| !p.is_empty() && chunk.windows(p.len()).any(|w| w == p.as_slice()))
    }

    fn count_down(&self, n: usize) {
        let total = self.downstream.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
        let at = self.trigger_after.load(Ordering::SeqCst);
        if at > 0 && total >= at {
            self.trigger_after.store(0, Ordering::SeqCst);
            let mode = self.trigger_mode.load(Ordering::SeqCst);
            self.mode.store(mode, Ordering::SeqCst);
            let _ = self.changed.send(mode);
        }
    }
}

async fn pipe(client: TcpStream, server: TcpStream, shared: Shared) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = {
        let shared = shared.clone();
        async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = tokio::select! {
                    r = cr.read(&mut buf) => match r { Ok(0) | Err(_) => return, Ok(n) => n },
                    _ = cut(&shared) => return,
                };
                if !shared.may_forward().await || sw.write_all(&buf[..n]).await.is_err() {
                    return;
                }
                if shared.holds_cut_pattern(&buf[..n]) {
                    let _ = sw.flush().await;
                    shared.mode.store(CUT, Ordering::SeqCst);
                    let _ = shared.changed.send(CUT);
                    return;
                }
            }
        }
    };
    let down = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = tokio::select! {
                r = sr.read(&mut buf) => match r { Ok(0) | Err(_) => return, Ok(n) => n },
                _ = cut(&shared) => return,
            };
            if !shared.may_forward().await || cw.write_all(&buf[..n]).await.is_err() {
                return;
            }
            shared.count_down(n);
        }
    };
    // Either side ending ends both: the sockets drop together.
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

/// Resolves when the proxy is told to cut.
async fn cut(shared: &Shared) {
    let mut rx = shared.changed.subscribe();
    loop {
        if shared.mode.load(Ordering::SeqCst) == CUT {
            return;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}
