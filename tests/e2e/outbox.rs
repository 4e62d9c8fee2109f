//! The durable SMS outbox through the real `twostepd` configured with `[[sms.providers]]`:
//! failover to a second provider recorded on the row, a SIGKILL with messages queued (valid
//! ones sent once after restart, expired ones never), and StartLogin answering without
//! waiting for a slow provider. The providers are loopback fakes of the generic HTTP kind;
//! the rows are read with the `sqlite3` and `psql` command-line clients.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use tonic::Code;
use twostep_proto::v1 as pb;
use twostep_tests::server::TempDir;
use twostep_tests::{Backend, SharedStores, TestServer, env};

use crate::fake_provider::{FakeProvider, closed_port, generic_provider};
use crate::helpers::*;

// === configuration ===

const OUTBOX_KEY: &str = "6f7574626f78206b657920666f722074776f7374657020653265207465737473";

/// A config file with these providers, in this order, and quick retries.
fn config(providers: &[(&str, String)]) -> String {
    let mut toml = format!(
        r#"
[security]
outbox_key = "{OUTBOX_KEY}"

[sms]
console = false

[sms.routing]
max_retries = 1
base_backoff_ms = 50
max_backoff_ms = 200

[sms.outbox]
lease_ms = 2000
poll_interval_ms = 200
retry_base_ms = 200
retry_max_ms = 500
"#
    );
    for (name, url) in providers {
        toml.push_str(&generic_provider(name, url));
    }
    toml
}

// === reading rows ===

/// Where a test server's rows are, for the command-line clients.
#[derive(Debug, Clone)]
enum Db {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Db {
    /// Rows of `sql`, columns split on `|`.
    fn query(&self, sql: &str) -> Vec<Vec<String>> {
        let out = match self {
            Db::Sqlite(path) => Command::new("sqlite3")
                .args(["-cmd", ".timeout 5000"])
                .arg(path)
                .arg(sql)
                .output()
                .expect("the sqlite3 command-line client is needed for this test"),
            Db::Postgres(url) => Command::new("psql")
                .arg(url)
                .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
                .output()
                .expect("psql is needed for end-to-end tests on PostgreSQL"),
        };
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split('|').map(str::to_owned).collect())
            .collect()
    }

    /// `status, provider, provider_message_id, attempts, has_body` of the row to `phone`.
    fn row(&self, phone: &str) -> Option<Vec<String>> {
        let last4 = last_four(phone);
        let has_body = match self {
            Db::Sqlite(_) => "body IS NOT NULL",
            Db::Postgres(_) => "CASE WHEN body IS NULL THEN 0 ELSE 1 END",
        };
        let rows = self.query(&format!(
            "SELECT status, COALESCE(provider, ''), COALESCE(provider_message_id, ''), \
             attempts, {has_body} FROM sms_outbox WHERE masked_to LIKE '%{last4}' \
             ORDER BY created_at"
        ));
        assert!(rows.len() <= 1, "more than one row to {phone}: {rows:?}");
        rows.into_iter().next()
    }

    /// Waits (bounded) until `check` accepts the row to `phone`; returns it.
    async fn wait_row(
        &self,
        phone: &str,
        what: &str,
        check: impl Fn(&[String]) -> bool,
    ) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let row = self.row(phone);
            if let Some(row) = row.as_ref().filter(|r| check(r)) {
                return row.clone();
            }
            assert!(
                Instant::now() < deadline,
                "the row to {phone} never became {what}: {row:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A backend whose database the test can name (and reuse across restarts).
struct Stores {
    backend: Backend,
    db: Db,
    /// Extra environment for the embedded case: a SQLite file the test owns.
    env: Vec<(String, String)>,
    /// Whether codes survive a restart (Redis and a fixed code key).
    durable_codes: bool,
    _dir: TempDir,
}

impl Stores {
    async fn embedded() -> Self {
        let dir = TempDir::new();
        let path = dir.0.join("twostep.db");
        Self {
            backend: Backend::Embedded,
            env: vec![(
                "TWOSTEP_DATABASE__URL".to_owned(),
                format!("sqlite://{}?mode=rwc", path.display()),
            )],
            db: Db::Sqlite(path),
            durable_codes: false,
            _dir: dir,
        }
    }

    async fn postgres_redis() -> Self {
        let stores = SharedStores::new(env::required("TWOSTEP_TEST_REDIS_URL")).await;
        Self {
            db: Db::Postgres(stores.database_url.clone()),
            backend: Backend::Shared(stores),
            env: Vec::new(),
            durable_codes: true,
            _dir: TempDir::new(),
        }
    }

    async fn start(&self, toml: &str) -> TestServer {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        TestServer::start_with_config(self.backend.clone(), toml, &env).await
    }
}

async fn session_with(server: &TestServer, challenge_id: &str, code: &str) -> pb::Session {
    let res = verify(server, challenge_id, code).await.unwrap();
    match res.result {
        Some(pb::verify_code_response::Result::Session(s)) => s,
        other => panic!("expected a session, got {other:?}"),
    }
}

// === (a) failover ===

async fn failover_walkthrough(stores: Stores) {
    let fake = FakeProvider::start(Duration::ZERO).await;
    let down = format!("http://127.0.0.1:{}/send", closed_port().await);
    let server = stores
        .start(&config(&[("down", down), ("fake", fake.url())]))
        .await;
    let phone = random_us_number();
    let user_id = create_phone_user(&server, &phone).await;

    let challenge = start_phone_login(&server, &phone).await.unwrap();
    let sms = fake.wait_for(&phone).await;
    assert_eq!(sms.code().len(), 6, "{sms:?}");
    let session = session_with(&server, &challenge.challenge_id, &sms.code()).await;
    assert_eq!(session.user_id, user_id);

    // The row says which provider delivered, under which id, and holds no body any more.
    let row = stores.db.wait_row(&phone, "sent", |r| r[0] == "sent").await;
    assert_eq!(row, ["sent", "fake", "fake-1", "1", "0"]);
    assert_eq!(fake.messages().len(), 1);
    // Nothing went to the console.
    assert_eq!(server.sms_count(&last_four(&phone)), 0);
}

#[tokio::test]
async fn failover_delivers_through_the_second_provider_and_the_row_names_it() {
    failover_walkthrough(Stores::embedded().await).await;
}

#[tokio::test]
async fn failover_on_postgres_and_redis() {
    failover_walkthrough(Stores::postgres_redis().await).await;
}

// === (b) SIGKILL with messages queued ===

async fn kill_walkthrough(stores: Stores) {
    let down = format!("http://127.0.0.1:{}/send", closed_port().await);
    let mut first = stores.start(&config(&[("down", down)])).await;
    let phones: Vec<String> = (0..3).map(|_| random_us_number()).collect();
    let mut challenges = Vec::new();
    for phone in &phones {
        create_phone_user(&first, phone).await;
        challenges.push(start_phone_login(&first, phone).await.unwrap());
    }
    // Every row has been tried (and failed) at least once and is still waiting.
    for phone in &phones {
        let row = stores.db.wait_row(phone, "tried", |r| r[3] != "0").await;
        assert!(row[0] == "queued" || row[0] == "sending", "{row:?}");
        assert_eq!(row[4], "1", "the body must be kept until sent: {row:?}");
    }
    first.signal("KILL");
    first.wait_exit(Duration::from_secs(10)).await;

    // The third message's code expires while twostepd is down.
    let expired = &phones[2];
    stores.db.query(&format!(
        "UPDATE sms_outbox SET expires_at = created_at WHERE masked_to LIKE '%{}'",
        last_four(expired)
    ));

    let fake = FakeProvider::start(Duration::ZERO).await;
    let second = stores.start(&config(&[("fake", fake.url())])).await;
    for phone in &phones[..2] {
        fake.wait_for(phone).await;
        let row = stores.db.wait_row(phone, "sent", |r| r[0] == "sent").await;
        assert_eq!(&row[1], "fake");
        assert_eq!(&row[4], "0");
    }
    let row = stores
        .db
        .wait_row(expired, "expired", |r| r[0] == "expired")
        .await;
    assert_eq!((&row[1][..], &row[4][..]), ("", "0"), "{row:?}");

    // Longer than a lease and several polls: still exactly once each, the expired never.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let sms_log = || {
        second
            .stderr_text()
            .lines()
            .filter(|l| l.contains("sms") || l.contains("provider"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for phone in &phones[..2] {
        assert_eq!(
            fake.to(phone).len(),
            1,
            "{phone}: {:?}\n{}",
            fake.messages(),
            sms_log()
        );
    }
    assert!(fake.to(expired).is_empty(), "{:?}", fake.messages());
    assert_eq!(fake.messages().len(), 2);

    // With Redis and a fixed code key the challenge outlived the crash too: the code works.
    if stores.durable_codes {
        let code = fake.to(&phones[0])[0].code();
        session_with(&second, &challenges[0].challenge_id, &code).await;
    }
}

#[tokio::test]
async fn after_a_sigkill_valid_messages_are_sent_once_and_expired_ones_never() {
    kill_walkthrough(Stores::embedded().await).await;
}

#[tokio::test]
async fn after_a_sigkill_on_postgres_and_redis() {
    kill_walkthrough(Stores::postgres_redis().await).await;
}

// === (c) provider latency stays off the RPC ===

#[tokio::test]
async fn start_login_does_not_wait_for_a_slow_provider() {
    let stores = Stores::embedded().await;
    let slow = FakeProvider::start(Duration::from_secs(2)).await;
    let server = stores.start(&config(&[("slow", slow.url())])).await;
    let phones = [random_us_number(), random_us_number()];
    for phone in &phones {
        create_phone_user(&server, phone).await;
    }
    let mut auth = server.auth().await;
    for phone in &phones {
        let started = Instant::now();
        let res = auth
            .start_login(pb::StartLoginRequest {
                client: client(),
                method: Some(pb::start_login_request::Method::Phone(
                    pb::PhoneCredentials {
                        phone_number: phone.clone(),
                    },
                )),
            })
            .await;
        let took = started.elapsed();
        assert!(res.is_ok(), "{res:?}");
        // Generous: the provider alone takes 2 s.
        assert!(
            took < Duration::from_millis(1500),
            "StartLogin took {took:?}"
        );
    }
    // The messages still go out, each after the provider's 2 s.
    for phone in &phones {
        slow.wait_for(phone).await;
        stores.db.wait_row(phone, "sent", |r| r[0] == "sent").await;
    }
    // A wrong code is still refused as usual while all this happens.
    let challenge = start_phone_login(&server, &random_us_number())
        .await
        .unwrap();
    assert_code(
        verify(&server, &challenge.challenge_id, "000000").await,
        Code::Unauthenticated,
    );
}

// === (d) a decoy's stand-in is written ended ===

/// A phone login for a number nobody has queues a stand-in row (R19: the same insert a real
/// code costs), written already `expired` with no body: nothing to erase later, and nothing
/// ever sent. The worker deletes such rows at its next prune, which comes a minute after start
/// (here, long after the walk-through).
async fn stand_in_walkthrough(stores: Stores) {
    let fake = FakeProvider::start(Duration::ZERO).await;
    let server = stores.start(&config(&[("fake", fake.url())])).await;
    let nobody = random_us_number();
    start_phone_login(&server, &nobody).await.unwrap();
    let row = stores.db.row(&nobody).expect("a stand-in row is queued");
    assert_eq!(row, ["expired", "", "", "0", "0"]);

    // A real code sent after it goes out, and the stand-in still has not.
    let phone = std::iter::repeat_with(random_us_number)
        .find(|p| last_four(p) != last_four(&nobody))
        .unwrap();
    create_phone_user(&server, &phone).await;
    start_phone_login(&server, &phone).await.unwrap();
    fake.wait_for(&phone).await;
    assert!(fake.to(&nobody).is_empty());
    assert_eq!(stores.db.row(&nobody).unwrap(), row);
}

#[tokio::test]
async fn a_decoys_stand_in_is_stored_expired_without_a_body() {
    stand_in_walkthrough(Stores::embedded().await).await;
}

#[tokio::test]
async fn a_decoys_stand_in_on_postgres_and_redis() {
    stand_in_walkthrough(Stores::postgres_redis().await).await;
}
