//! Bearer tokens per role, through the real gRPC client, the HTTP listener and the CLI: a
//! missing, malformed or unknown token is UNAUTHENTICATED, another role's token is
//! PERMISSION_DENIED naming the role needed, every token of the right role passes, a role
//! without tokens stays open, and health, reflection and /healthz never need a token.

use std::process::{Command, Output};

use bucketbus::grpc::pb;
use futures::StreamExt as _;
use tonic::Code;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;

use crate::support::*;

const INGEST: &str = "it-ingest-token-000000001";
const ADMIN: &str = "it-admin-token-000000001";
/// A second admin token, as during a rotation: both must work.
const ADMIN_NEW: &str = "it-admin-token-new-00002";
const CONSUMER: &str = "it-consumer-token-00001";
const METRICS: &str = "it-metrics-token-000001";
const UNKNOWN: &str = "it-unknown-token-000001";

fn every_role_has_tokens() -> String {
    format!(
        "[auth]\ningest_tokens = [\"{INGEST}\"]\nadmin_tokens = [\"{ADMIN}\", \"{ADMIN_NEW}\"]\n\
         consumer_tokens = [\"{CONSUMER}\"]\nmetrics_tokens = [\"{METRICS}\"]\n"
    )
}

/// Sends `authorization: <header>` with every call (when set).
#[derive(Clone)]
struct Authorization(Option<String>);

impl Interceptor for Authorization {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(header) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", header.parse().unwrap());
        }
        Ok(request)
    }
}

type Authed = InterceptedService<Channel, Authorization>;

fn with_header(broker: &TestBroker, header: Option<String>) -> Authed {
    InterceptedService::new(broker.channel.clone(), Authorization(header))
}

fn with_token(broker: &TestBroker, token: &str) -> Authed {
    with_header(broker, Some(format!("Bearer {token}")))
}

#[derive(Clone, Copy, Debug)]
enum Service {
    Ingest,
    Admin,
    Queue,
}

/// One call of `service` with `header`: Publish, ListRules or Receive.
async fn call(
    broker: &TestBroker,
    service: Service,
    header: Option<String>,
) -> Result<(), tonic::Status> {
    let channel = with_header(broker, header);
    match service {
        Service::Ingest => pb::ingest_client::IngestClient::new(channel)
            .publish(pb::PublishRequest {
                record: Some(put_record("auth-bucket", "a.jpg")),
            })
            .await
            .map(drop),
        Service::Admin => pb::admin_client::AdminClient::new(channel)
            .list_rules(pb::ListRulesRequest::default())
            .await
            .map(drop),
        Service::Queue => pb::queue_client::QueueClient::new(channel)
            .receive(pb::ReceiveRequest {
                queue: "auth-queue".into(),
                max_messages: 1,
                wait_seconds: Some(0),
                visibility_timeout_seconds: 0,
            })
            .await
            .map(drop),
    }
}

fn refused(result: Result<(), tonic::Status>, code: Code, message: &str) {
    let status = result.expect_err("the call must be refused");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(status.message().contains(message), "{status:?}");
}

#[tokio::test]
async fn each_service_needs_a_token_of_its_own_role() {
    let (_dir, broker) = fresh_broker(&every_role_has_tokens()).await;
    pb::admin_client::AdminClient::new(with_token(&broker, ADMIN))
        .create_queue(pb::CreateQueueRequest {
            name: "auth-queue".into(),
            attributes: None,
        })
        .await
        .unwrap();
    let cases = [
        (
            Service::Ingest,
            "an ingest token",
            vec![INGEST],
            vec![
                (ADMIN, "admin"),
                (CONSUMER, "consumer"),
                (METRICS, "metrics"),
            ],
        ),
        (
            Service::Admin,
            "an admin token",
            vec![ADMIN, ADMIN_NEW],
            vec![
                (INGEST, "ingest"),
                (CONSUMER, "consumer"),
                (METRICS, "metrics"),
            ],
        ),
        (
            Service::Queue,
            "a consumer token",
            vec![CONSUMER],
            vec![(INGEST, "ingest"), (ADMIN, "admin"), (METRICS, "metrics")],
        ),
    ];
    for (service, needed, right, others) in cases {
        refused(
            call(&broker, service, None).await,
            Code::Unauthenticated,
            &format!("missing credentials: this call needs {needed}"),
        );
        refused(
            call(&broker, service, Some(format!("Bearer {UNKNOWN}"))).await,
            Code::Unauthenticated,
            "invalid bearer token",
        );
        refused(
            call(&broker, service, Some(format!("Basic {}", right[0]))).await,
            Code::Unauthenticated,
            "malformed authorization header",
        );
        for (token, role) in others {
            refused(
                call(&broker, service, Some(format!("Bearer {token}"))).await,
                Code::PermissionDenied,
                &format!("this call needs {needed}; the token given is for {role}"),
            );
        }
        for token in right {
            call(&broker, service, Some(format!("Bearer {token}")))
                .await
                .unwrap_or_else(|s| panic!("{service:?} with its token: {s:?}"));
        }
    }
}

#[tokio::test]
async fn a_stream_is_refused_before_any_record_is_taken() {
    let (_dir, broker) = fresh_broker(&every_role_has_tokens()).await;
    put_rule_as_admin(&broker).await;
    let request = || pb::PublishRequest {
        record: Some(put_record("auth-bucket", "streamed.jpg")),
    };
    let status = pb::ingest_client::IngestClient::new(with_token(&broker, CONSUMER))
        .publish_stream(tokio_stream::iter(vec![request()]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(
        broker.store.topic_len("auth-bucket-watched").await.unwrap(),
        0
    );

    let mut answers = pb::ingest_client::IngestClient::new(with_token(&broker, INGEST))
        .publish_stream(tokio_stream::iter(vec![request()]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.next().await.unwrap().unwrap();
    assert_eq!(answer.matched.len(), 1, "{answer:?}");
    assert_eq!(
        broker.store.topic_len("auth-bucket-watched").await.unwrap(),
        1
    );
}

async fn put_rule_as_admin(broker: &TestBroker) {
    let receiver = Receiver::start().await;
    pb::admin_client::AdminClient::new(with_token(broker, ADMIN))
        .put_rule(pb::PutRuleRequest {
            rule: Some(http_rule(
                "auth-bucket",
                "watched",
                &["ObjectCreated:*"],
                &receiver.url("/auth"),
            )),
            skip_test_event: true,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn health_and_reflection_need_no_token() {
    let (_dir, broker) = fresh_broker(&every_role_has_tokens()).await;
    let mut health = HealthClient::new(broker.channel.clone());
    for service in ["", "bucketbus.v1.Admin"] {
        let answer = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.status(), ServingStatus::Serving, "{service:?}");
    }
    let mut answers = ServerReflectionClient::new(broker.channel.clone())
        .server_reflection_info(tokio_stream::iter([ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        }]))
        .await
        .unwrap()
        .into_inner();
    assert!(answers.next().await.unwrap().is_ok());
}

#[tokio::test]
async fn a_role_without_tokens_stays_open_while_the_others_are_guarded() {
    let (_dir, broker) = fresh_broker(&format!("[auth]\nadmin_tokens = [\"{ADMIN}\"]")).await;
    publish(&broker, put_record("auth-bucket", "open.jpg"))
        .await
        .expect("ingest has no tokens: open");
    refused(
        call(&broker, Service::Admin, None).await,
        Code::Unauthenticated,
        "needs an admin token",
    );
    call(&broker, Service::Admin, Some(format!("Bearer {ADMIN}")))
        .await
        .unwrap();
    let metrics = reqwest::get(format!("http://{}/metrics", broker.http_addr()))
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200, "no metrics tokens: open");
}

#[tokio::test]
async fn metrics_need_a_metrics_token_and_health_checks_none() {
    let (_dir, broker) = fresh_broker(&every_role_has_tokens()).await;
    let client = reqwest::Client::new();
    let base = format!("http://{}", broker.http_addr());
    let get = |path: &str, token: Option<&str>| {
        let mut request = client.get(format!("{base}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let missing = get("/metrics", None).await.unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    assert_eq!(get("/metrics", Some(UNKNOWN)).await.unwrap().status(), 401);
    let other = get("/metrics", Some(ADMIN)).await.unwrap();
    assert_eq!(other.status(), 403);
    assert!(
        other
            .text()
            .await
            .unwrap()
            .contains("needs a metrics token")
    );
    let scraped = get("/metrics", Some(METRICS)).await.unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(scraped.text().await.unwrap().contains("bucketbus_"));
    for path in ["/healthz", "/readyz"] {
        assert_eq!(get(path, None).await.unwrap().status(), 200, "{path}");
    }
}

/// Runs the binary with `args` and extra environment (off the async runtime).
async fn cli(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bucketbus"));
    command.args(args).env_remove("BUCKETBUS_TOKEN");
    for (name, value) in env {
        command.env(name, value);
    }
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn the_cli_sends_its_token_from_the_flag_or_the_environment() {
    let (_dir, broker) = fresh_broker(&every_role_has_tokens()).await;
    let server = broker.server_url();
    let list = ["rule", "list", "--server", server.as_str()];

    let out = cli(&list, &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim(),
        "bucketbus: UNAUTHENTICATED: missing credentials: this call needs an admin token \
         (authorization: Bearer <token>)"
    );

    let out = cli(&[&list[..], &["--token", ADMIN]].concat(), &[]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&list, &[("BUCKETBUS_TOKEN", ADMIN_NEW)]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let publish = [
        "publish", "--server", &server, "--bucket", "b", "--key", "k", "--token", ADMIN,
    ];
    let out = cli(&publish, &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "PERMISSION_DENIED: this call needs an ingest token; the token given is for admin"
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains(ADMIN),
        "the token is never printed: {stderr}"
    );
}
