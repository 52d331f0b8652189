//! Credentials loaded once per provider and shared ([`OneLoad`]): every client and region of an
//! account uses the credentials of one load, concurrent first uses wait for the one load in
//! flight, and a new load starts only when the credentials near their expiry.
//!
//! Why amishare does not leave this to the SDK's identity cache alone (aws-smithy-runtime 1.16,
//! `client/identity/cache/lazy.rs`): every config derived from one `SdkConfig` shares ONE
//! `LazyCache`, which keeps at most 64 partitions (one per credentials provider) and evicts an
//! arbitrary one when a 65th is added. A run over 100 target accounts has 100 assumed-role
//! providers plus the source's: partitions were evicted and loaded again all run long (measured:
//! 2,282 AssumeRole calls for 100 accounts x 5 regions, issue 23). The cache also abandons a load
//! that outlives its load timeout, and the next use starts another. Behind [`OneLoad`] an
//! evicted partition or an abandoned load costs nothing: the load runs as its own task, is
//! awaited by whoever asks next, and its credentials are kept until
//! [`refresh_due`] says they are near expiry.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials};
use aws_credential_types::Credentials;
use aws_smithy_types::error::display::DisplayErrorContext;
use futures::future::{BoxFuture, FutureExt, Shared};

/// Credentials are loaded again this long before they expire (or, for credentials that live
/// less than twice as long, at half their life). The SDK's identity cache refreshes 10-15 s
/// before expiry, well inside this window, so it never holds credentials [`OneLoad`] would
/// hand out again unchanged.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

/// How long the SDK's identity cache waits for a load before giving up on it: long enough for
/// a slow STS answer (under load, behind throttling) to be waited for. Its own default is
/// derived from the retry settings (6.2 s with retries disabled), and a load abandoned by the
/// cache fails the call that asked.
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(300);

/// The identity cache of every session amishare builds: the SDK's lazy cache with
/// [`LOAD_TIMEOUT`] and room for one partition per target account (a partition is a
/// credentials provider; evicting one only costs a call to its [`OneLoad`], which keeps the
/// credentials).
pub fn identity_cache() -> aws_sdk_sts::config::SharedIdentityCache {
    aws_config::identity::IdentityCache::lazy()
        .load_timeout(LOAD_TIMEOUT)
        .max_partitions(4096)
        .build()
}

/// The outcome of one load, shared by everyone waiting for it (errors as their text).
type Load = Shared<BoxFuture<'static, Result<Credentials, String>>>;

enum State {
    Empty,
    Loading(Load),
    /// The credentials and when they were loaded.
    Ready(Credentials, SystemTime),
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneLoad").finish_non_exhaustive()
    }
}

struct Inner {
    provider: Box<dyn ProvideCredentials>,
    state: Mutex<State>,
}

/// A credentials provider that loads through `provider` once and shares the result (see the
/// module docs). Clones share the same credentials.
#[derive(Debug, Clone)]
pub struct OneLoad {
    inner: Arc<Inner>,
}

/// Whether credentials loaded at `loaded` and expiring at `expiry` must be loaded again `now`.
pub fn refresh_due(expiry: Option<SystemTime>, loaded: SystemTime, now: SystemTime) -> bool {
    let Some(expiry) = expiry else {
        return false;
    };
    let life = expiry.duration_since(loaded).unwrap_or_default();
    let before = REFRESH_BEFORE.min(life / 2);
    now + before >= expiry
}

impl OneLoad {
    pub fn new(provider: impl ProvideCredentials + 'static) -> Self {
        Self {
            inner: Arc::new(Inner {
                provider: Box::new(provider),
                state: Mutex::new(State::Empty),
            }),
        }
    }

    async fn credentials(&self) -> Result<Credentials, CredentialsError> {
        let load = {
            let mut state = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
            match &*state {
                State::Ready(c, loaded) if !refresh_due(c.expiry(), *loaded, SystemTime::now()) => {
                    return Ok(c.clone());
                }
                State::Loading(load) => load.clone(),
                _ => {
                    let load = self.start();
                    *state = State::Loading(load.clone());
                    load
                }
            }
        };
        load.await
            .map_err(|message| CredentialsError::provider_error(LoadFailed(message)))
    }

    /// Start a load as a task of its own (called with the state locked, so the task's result
    /// is stored after `Loading`): it completes even if everyone waiting for it gives up.
    fn start(&self) -> Load {
        let inner = Arc::clone(&self.inner);
        let task = tokio::spawn(async move {
            let result = inner
                .provider
                .provide_credentials()
                .await
                .map_err(|e| DisplayErrorContext(&e).to_string());
            let mut state = inner.state.lock().unwrap_or_else(|e| e.into_inner());
            *state = match &result {
                Ok(c) => State::Ready(c.clone(), SystemTime::now()),
                // A failed load is not kept: the next use tries again.
                Err(_) => State::Empty,
            };
            result
        });
        async move {
            task.await
                .unwrap_or_else(|e| Err(format!("the credentials load stopped: {e}")))
        }
        .boxed()
        .shared()
    }
}

impl ProvideCredentials for OneLoad {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.credentials())
    }
}

/// A load's failure, as the provider told it.
#[derive(Debug)]
struct LoadFailed(String);

impl std::fmt::Display for LoadFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadFailed {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts its loads; each takes `delay` and lasts `life`.
    #[derive(Debug)]
    struct Slow {
        loads: Arc<AtomicUsize>,
        delay: Duration,
        life: Duration,
    }

    impl ProvideCredentials for Slow {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            future::ProvideCredentials::new(async move {
                self.loads.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(self.delay).await;
                Ok(Credentials::new(
                    "AKID",
                    "SECRET",
                    None,
                    Some(SystemTime::now() + self.life),
                    "slow",
                ))
            })
        }
    }

    fn slow(delay_ms: u64, life: Duration) -> (OneLoad, Arc<AtomicUsize>) {
        let loads = Arc::new(AtomicUsize::new(0));
        let p = OneLoad::new(Slow {
            loads: Arc::clone(&loads),
            delay: Duration::from_millis(delay_ms),
            life,
        });
        (p, loads)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_first_uses_wait_for_one_load() {
        let (p, loads) = slow(200, Duration::from_secs(3600));
        let all = (0..64).map(|_| {
            let p = p.clone();
            tokio::spawn(async move { p.provide_credentials().await.map(|_| ()) })
        });
        for r in futures::future::join_all(all).await {
            assert!(r.unwrap().is_ok());
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        p.provide_credentials().await.unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 1, "kept until near expiry");
    }

    /// A waiter that gives up (the SDK cache's load timeout) does not cancel the load: the next
    /// use gets its answer instead of starting another.
    #[tokio::test]
    async fn an_abandoned_load_is_awaited_not_started_again() {
        let (p, loads) = slow(300, Duration::from_secs(3600));
        let gave_up =
            tokio::time::timeout(Duration::from_millis(50), p.provide_credentials()).await;
        assert!(gave_up.is_err());
        p.provide_credentials().await.unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn credentials_near_expiry_are_loaded_again() {
        // Lives 2 s: due at half its life (1 s), not 5 minutes before.
        let (p, loads) = slow(0, Duration::from_secs(2));
        p.provide_credentials().await.unwrap();
        p.provide_credentials().await.unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        p.provide_credentials().await.unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn refresh_is_due_five_minutes_before_expiry() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let hour = Some(t0 + Duration::from_secs(3600));
        assert!(!refresh_due(hour, t0, t0 + Duration::from_secs(3600 - 301)));
        assert!(refresh_due(hour, t0, t0 + Duration::from_secs(3600 - 300)));
        assert!(!refresh_due(None, t0, t0 + Duration::from_secs(1 << 30)));
    }
}
