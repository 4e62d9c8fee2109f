#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::Utc;

use super::*;
use crate::audit::{Actor, AuditKind};

/// Stores in memory; the first `failures` batch writes fail.
#[derive(Default)]
struct Memory {
    events: Mutex<Vec<AuditEvent>>,
    batches: AtomicU32,
    failures: AtomicU32,
}

#[async_trait]
impl AuditLog for Memory {
    async fn record(&self, event: &AuditEvent) -> Result<(), RepoError> {
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }

    async fn record_batch(&self, events: &[AuditEvent]) -> Result<(), RepoError> {
        self.batches.fetch_add(1, Ordering::SeqCst);
        let failing = self.failures.load(Ordering::SeqCst);
        if failing > 0 {
            self.failures.store(failing - 1, Ordering::SeqCst);
            return Err(RepoError::Unavailable("down".into()));
        }
        self.events.lock().unwrap().extend_from_slice(events);
        Ok(())
    }

    async fn list(
        &self,
        tenant: TenantId,
        _: &AuditFilter,
        _: Option<uuid::Uuid>,
        _: u32,
    ) -> Result<Vec<AuditEvent>, RepoError> {
        Ok(self
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.tenant == tenant)
            .cloned()
            .collect())
    }
}

fn event(tenant: TenantId) -> AuditEvent {
    AuditEvent {
        id: uuid::Uuid::now_v7(),
        at: Utc::now(),
        tenant,
        actor: Actor::System,
        user: None,
        kind: AuditKind::LoginFailed,
        masked_phone: None,
        client_ip: None,
        user_agent: String::new(),
        details: Default::default(),
    }
}

#[tokio::test]
async fn an_instance_lists_every_event_it_recorded_before() {
    let memory = Arc::new(Memory::default());
    let (log, writer) = BufferedAuditLog::new(Arc::clone(&memory) as Arc<dyn AuditLog>, 8);
    let writer = tokio::spawn(writer.run());
    let tenant = TenantId::random();
    // More than the queue holds: `record` waits for room instead of dropping.
    for _ in 0..100 {
        log.record(&event(tenant)).await.unwrap();
    }
    let listed = log
        .list(tenant, &AuditFilter::default(), None, 1000)
        .await
        .unwrap();
    assert_eq!(listed.len(), 100);
    assert!(
        memory.batches.load(Ordering::SeqCst) < 100,
        "queued events are written together"
    );
    drop(log);
    writer.await.unwrap();
}

#[tokio::test]
async fn a_failed_write_is_retried_and_flush_waits_for_it() {
    let memory = Arc::new(Memory::default());
    memory.failures.store(2, Ordering::SeqCst);
    let (log, writer) = BufferedAuditLog::new(Arc::clone(&memory) as Arc<dyn AuditLog>, 8);
    tokio::spawn(writer.run());
    let tenant = TenantId::random();
    log.record(&event(tenant)).await.unwrap();
    log.flush().await.unwrap();
    assert_eq!(memory.events.lock().unwrap().len(), 1);
    assert_eq!(memory.batches.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn the_writer_drains_the_queue_when_the_log_is_dropped() {
    let memory = Arc::new(Memory::default());
    let (log, writer) = BufferedAuditLog::new(Arc::clone(&memory) as Arc<dyn AuditLog>, 64);
    let tenant = TenantId::random();
    for _ in 0..10 {
        log.record(&event(tenant)).await.unwrap();
    }
    drop(log);
    writer.run().await;
    assert_eq!(memory.events.lock().unwrap().len(), 10);
}
