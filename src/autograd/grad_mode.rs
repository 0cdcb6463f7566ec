//! Thread-local gradient mode, as PyTorch's `GradMode`: `no_grad` on one thread does not
//! disable recording on another.

use std::cell::Cell;

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
