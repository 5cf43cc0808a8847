//! Attempts per client address (login), in memory: each server process keeps its own count,
//! which is enough to slow a password-guessing script down; accounts have their own lockout.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::{DomainError, DomainResult};

pub struct AddressLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl AddressLimiter {
    pub fn per_minute(attempts: NonZeroU32) -> Self {
        AddressLimiter { limiter: RateLimiter::keyed(Quota::per_minute(attempts)) }
    }

    pub fn check(&self, address: IpAddr) -> DomainResult<()> {
        self.limiter.check_key(&address).map_err(|not_until| DomainError::RateLimited {
            retry_after: not_until.wait_time_from(DefaultClock::default().now()),
        })
    }
}
