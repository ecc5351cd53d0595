//! Locking a `std::sync::Mutex` whose holder may have panicked.
//!
//! wrangle never catches panics (`panic = "abort"` in release builds), and the code under its
//! locks keeps the guarded value consistent at every point where it could panic, so a poisoned
//! lock still holds a usable value: taking it is better than spreading the panic to every thread
//! that shares it. Imports nothing of the crate.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, taking the value even when a panicking holder poisoned it.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
