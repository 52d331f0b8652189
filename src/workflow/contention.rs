//! Editing a shared document that AWS cannot write conditionally (a KMS key policy: `PutKeyPolicy`
//! has no "only if unchanged"), while other runs may edit it too: how many attempts, how long to
//! pause between them (jittered, so runs that collided do not collide again in step), and how long
//! to let other writers' in-flight writes land before a read-back counts as settled.
//!
//! The randomness is a port ([`Jitter`]): production seeds it from the clock and the process id,
//! tests pass a fixed seed so every pause is known in advance.

use std::sync::Mutex;
use std::time::Duration;

/// Where the randomness of the pauses comes from: a number in `[0, 1)` per call.
pub trait Jitter: Send + Sync {
    fn unit(&self) -> f64;
}

/// A small seedable generator (xorshift64*): deterministic for a given seed.
pub struct SeededJitter(Mutex<u64>);

impl SeededJitter {
    pub fn new(seed: u64) -> Self {
        // xorshift must not start at zero.
        Self(Mutex::new(seed | 1))
    }

    /// Seeded from the clock and the process id: concurrent processes draw different pauses.
    pub fn from_clock() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Self::new(nanos ^ (u64::from(std::process::id()) << 32))
    }
}

impl Jitter for SeededJitter {
    fn unit(&self) -> f64 {
        let mut s = match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let mut x = *s;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *s = x;
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (r >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The retry discipline of a contended edit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    /// Attempts in all (the first included).
    pub attempts: u32,
    /// The pause before the second attempt is drawn from `[base / 2, base)`; it doubles with
    /// each attempt up to `cap`.
    pub base: Duration,
    pub cap: Duration,
    /// The least time a read-back waits for other writers' in-flight writes to land.
    pub settle_min: Duration,
    pub settle_max: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 12,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(4),
            settle_min: Duration::from_millis(150),
            settle_max: Duration::from_secs(5),
        }
    }
}

impl Retry {
    /// The pause after failed attempt `attempt` (1-based): "equal jitter", half fixed and half
    /// random, of an exponentially growing window capped at `cap`. Colliding runs spread out,
    /// and no run retries at once.
    pub fn pause(&self, attempt: u32, unit: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(16);
        let window = self.base.saturating_mul(1u32 << exp).min(self.cap);
        let half = window / 2;
        half + half.mul_f64(unit.clamp(0.0, 1.0))
    }

    /// How long a read-back waits before it is read again to confirm the edit is still there:
    /// another writer that read the policy before this run's write may write its own (older)
    /// document up to one read-and-write round trip later. Twice this run's own round trip
    /// (`round_trip`: its PutKeyPolicy and read back), plus up to one round trip of jitter,
    /// within `[settle_min, settle_max]`.
    pub fn settle(&self, round_trip: Duration, unit: f64) -> Duration {
        let d = round_trip * 2 + round_trip.mul_f64(unit.clamp(0.0, 1.0));
        d.clamp(self.settle_min, self.settle_max)
    }
}

/// What a contended edit needs: the discipline and the randomness.
pub struct Contention {
    pub retry: Retry,
    pub jitter: Box<dyn Jitter>,
}

impl Contention {
    /// A fixed seed (tests): every pause is known.
    pub fn seeded(seed: u64) -> Self {
        Self {
            retry: Retry::default(),
            jitter: Box::new(SeededJitter::new(seed)),
        }
    }
}

impl Default for Contention {
    fn default() -> Self {
        Self {
            retry: Retry::default(),
            jitter: Box::new(SeededJitter::from_clock()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeded_generator_is_deterministic_and_in_range() {
        let a = SeededJitter::new(7);
        let b = SeededJitter::new(7);
        let xs: Vec<f64> = (0..100).map(|_| a.unit()).collect();
        let ys: Vec<f64> = (0..100).map(|_| b.unit()).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let c = SeededJitter::new(8);
        assert_ne!(xs[0], c.unit());
    }

    #[test]
    fn pauses_grow_up_to_the_cap_and_are_never_zero() {
        let r = Retry::default();
        assert_eq!(r.pause(1, 0.0), Duration::from_millis(100));
        assert_eq!(r.pause(1, 1.0), Duration::from_millis(200));
        assert_eq!(r.pause(2, 0.5), Duration::from_millis(300));
        assert_eq!(r.pause(10, 1.0), Duration::from_secs(4));
        assert_eq!(r.pause(100, 0.0), Duration::from_secs(2));
    }

    #[test]
    fn settle_is_twice_the_round_trip_within_bounds() {
        let r = Retry::default();
        assert_eq!(
            r.settle(Duration::from_millis(100), 0.0),
            Duration::from_millis(200)
        );
        assert_eq!(
            r.settle(Duration::from_millis(100), 0.5),
            Duration::from_millis(250)
        );
        assert_eq!(r.settle(Duration::from_millis(1), 0.0), r.settle_min);
        assert_eq!(r.settle(Duration::from_secs(60), 0.0), r.settle_max);
    }
}
