//! Password hashing: argon2id, on the blocking thread pool (a hash takes tens of milliseconds
//! of CPU and would stall every request sharing the async worker), at most one hash per core
//! at a time so a login storm queues instead of thrashing.

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use super::{DomainError, DomainResult};
use crate::config::PasswordHashing;

#[derive(Clone)]
pub struct Passwords {
    params: Params,
    permits: Arc<Semaphore>,
    /// A hash of a random password: verifying against it when an account does not exist makes
    /// "unknown email" cost the same as "wrong password" (no enumeration by timing).
    dummy_hash: Arc<String>,
}

impl Passwords {
    pub fn new(settings: PasswordHashing) -> DomainResult<Passwords> {
        let params = Params::new(settings.memory_kib, settings.iterations, settings.parallelism, None)
            .map_err(|e| DomainError::internal(anyhow::anyhow!("argon2 parameters: {e}")))?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let dummy_hash = hash_now(&params, &super::tokens::new_token())?;
        Ok(Passwords { params, permits: Arc::new(Semaphore::new(cores)), dummy_hash: Arc::new(dummy_hash) })
    }

    /// A PHC string (`$argon2id$v=19$m=…`), with its own random salt.
    pub async fn hash(&self, password: &str) -> DomainResult<String> {
        let params = self.params.clone();
        let password = password.to_owned();
        self.on_blocking_pool(move || hash_now(&params, &password)).await
    }

    /// Whether `password` matches `stored`; with no stored hash, spends the same time and says no.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> DomainResult<bool> {
        let (known, stored) = match stored {
            Some(hash) => (true, hash.to_owned()),
            None => (false, self.dummy_hash.as_ref().clone()),
        };
        let password = password.to_owned();
        let matches = self.on_blocking_pool(move || Ok(verify_now(&password, &stored))).await?;
        Ok(known && matches)
    }

    /// Whether `password` matches any of `hashes` (the password history).
    pub async fn matches_any(&self, password: &str, hashes: Vec<String>) -> DomainResult<bool> {
        let password = password.to_owned();
        self.on_blocking_pool(move || Ok(hashes.iter().any(|hash| verify_now(&password, hash)))).await
    }

    async fn on_blocking_pool<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> DomainResult<T> + Send + 'static,
    ) -> DomainResult<T> {
        let _permit = self.permits.acquire().await.map_err(DomainError::internal)?;
        // The caller's span goes along: what the blocking thread logs names its request.
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(work)).await.map_err(DomainError::internal)?
    }
}

fn hash_now(params: &Params, password: &str) -> DomainResult<String> {
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    argon2
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| DomainError::internal(anyhow::anyhow!("argon2: {e}")))
}

/// Verifies with the parameters recorded in the hash itself, so hashes made with older
/// settings keep working after the cost is raised.
fn verify_now(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Passwords {
        Passwords::new(PasswordHashing { memory_kib: 64, iterations: 1, parallelism: 1 }).unwrap()
    }

    #[tokio::test]
    async fn hashes_verify_and_salts_differ() {
        let passwords = cheap();
        let a = passwords.hash("Correct-Horse-42").await.unwrap();
        let b = passwords.hash("Correct-Horse-42").await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{a}");
        assert_ne!(a, b);
        assert!(passwords.verify("Correct-Horse-42", Some(&a)).await.unwrap());
        assert!(!passwords.verify("wrong", Some(&a)).await.unwrap());
        assert!(!passwords.verify("Correct-Horse-42", None).await.unwrap());
        assert!(passwords.matches_any("Correct-Horse-42", vec![b]).await.unwrap());
    }

    #[test]
    fn production_defaults_are_owasp() {
        let p = PasswordHashing::default();
        assert_eq!((p.memory_kib, p.iterations, p.parallelism), (19_456, 2, 1));
    }
}
