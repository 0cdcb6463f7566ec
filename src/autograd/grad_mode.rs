//! Thread-local gradient mode, as PyTorch's `GradMode`: `no_grad` on one thread does not
//! disable recording on another; and the process-wide anomaly mode.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
    static INFERENCE_MODE: Cell<bool> = const { Cell::new(false) };
}

pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}
pub fn set_grad_enabled(enabled: bool) {
    GRAD_ENABLED.with(|g| g.set(enabled));
}
pub fn is_inference_mode() -> bool {
    INFERENCE_MODE.with(|g| g.get())
}
pub fn set_inference_mode(on: bool) {
    INFERENCE_MODE.with(|g| g.set(on));
}

/// Sets the grad mode for its lifetime and restores the previous one when dropped.
pub struct GradModeGuard {
    prev: bool,
}

impl GradModeGuard {
    pub fn new(enabled: bool) -> GradModeGuard {
        let prev = is_grad_enabled();
        set_grad_enabled(enabled);
        GradModeGuard { prev }
    }
}

impl Drop for GradModeGuard {
    fn drop(&mut self) {
        set_grad_enabled(self.prev);
    }
}

/// Anomaly detection (`torch.autograd.set_detect_anomaly`), process-wide as PyTorch's
/// `AnomalyMode` is: while it is on with its NaN check, the engine refuses a backward
/// function's gradient that holds NaN.
static ANOMALY: AtomicBool = AtomicBool::new(false);
/// Whether anomaly detection checks the gradients for NaN (PyTorch's default: yes).
static ANOMALY_CHECK_NAN: AtomicBool = AtomicBool::new(true);

pub fn set_anomaly_enabled(enabled: bool, check_nan: bool) {
    ANOMALY.store(enabled, Ordering::Relaxed);
    ANOMALY_CHECK_NAN.store(check_nan, Ordering::Relaxed);
}
pub fn is_anomaly_enabled() -> bool {
    ANOMALY.load(Ordering::Relaxed)
}
pub fn is_anomaly_check_nan_enabled() -> bool {
    ANOMALY_CHECK_NAN.load(Ordering::Relaxed)
}
