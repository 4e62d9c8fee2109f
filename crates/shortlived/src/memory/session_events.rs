//! Session revocations within one process: the embedded default, where the memory store
//! already means one instance. Delivery is a direct call, so it is never lost.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use twostep_core::ports::{Revocation, RevocationListener, SessionEvents, StoreError};

/// Delivers every published revocation to the listeners subscribed in this process.
#[derive(Default)]
pub struct MemorySessionEvents {
    listeners: Mutex<Vec<Arc<dyn RevocationListener>>>,
}

impl MemorySessionEvents {
    pub fn new() -> Self {
        Self::default()
    }

    fn listeners(&self) -> Vec<Arc<dyn RevocationListener>> {
        // A plain list, consistent after every push.
        self.listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl std::fmt::Debug for MemorySessionEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemorySessionEvents")
            .field("listeners", &self.listeners().len())
            .finish()
    }
}

#[async_trait]
impl SessionEvents for MemorySessionEvents {
    async fn publish(&self, revocation: &Revocation) -> Result<(), StoreError> {
        for listener in self.listeners() {
            listener.revoked(revocation);
        }
        Ok(())
    }

    fn subscribe(&self, listener: Arc<dyn RevocationListener>) {
        listener.resumed();
        self.listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(listener);
    }
}
