//! Receipt handles: what makes them stale or unknown, Delete's per-handle errors and all-or-
//! nothing refusal of malformed batches, and ChangeVisibility.

use bucketbus::grpc::pb;
use std::time::{Duration, SystemTime};
use tonic::Code;

use crate::queue::*;
use crate::support::*;

#[tokio::test]
async fn an_undeleted_message_reappears_after_its_visibility_timeout_with_a_new_handle() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "q", attrs()).await;
    let sent = send(&broker, "q", "again").await;
    let first = only(receive_hiding(&broker, "q", 1, 1).await);

    let second = only(receive_eventually(&broker, "q", 30).await);
    assert_eq!(second.message_id, sent.message_id);
    assert_eq!(second.body, "again");
    assert_eq!(second.dequeue_count, 2);
    assert_ne!(second.receipt_handle, first.receipt_handle);
    let moved = seconds_between(
        time(&first.first_dequeue_time),
        time(&second.first_dequeue_time),
    );
    assert!(
        moved.abs() < 0.5,
        "first_dequeue_time stays the first receive"
    );

    let stale = delete(&broker, "q", &[&first.receipt_handle])
        .await
        .unwrap();
    assert_eq!(stale.deleted, 0);
    assert_eq!(stale.errors.len(), 1);
    assert_eq!(stale.errors[0].kind(), pb::ReceiptHandleErrorKind::Stale);
    let deleted = delete(&broker, "q", &[&second.receipt_handle])
        .await
        .unwrap();
    assert_eq!((deleted.deleted, deleted.errors.len()), (1, 0));
    assert_eq!(counts(&broker, "q").await, counts_of(0, 0, 0, 0));
}

#[tokio::test]
async fn a_handle_whose_visibility_timeout_ended_is_stale_and_deletes_nothing() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "q", attrs()).await;
    send(&broker, "q", "late").await;
    let m = only(receive_hiding(&broker, "q", 1, 1).await);
    eventually(Duration::from_secs(5), "visible again", || async {
        counts(&broker, "q").await == counts_of(1, 0, 0, 0)
    })
    .await;

    let response = delete(&broker, "q", &[&m.receipt_handle]).await.unwrap();
    assert_eq!(response.deleted, 0);
    assert_eq!(response.errors[0].kind(), pb::ReceiptHandleErrorKind::Stale);
    assert_eq!(only(receive(&broker, "q", 1).await).dequeue_count, 2);
}

#[tokio::test]
async fn delete_reports_stale_and_unknown_handles_per_handle_and_deletes_the_rest() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "a", attrs()).await;
    create_queue(&broker, "b", attrs()).await;
    for body in ["one", "two", "three"] {
        send(&broker, "a", body).await;
    }
    send(&broker, "b", "other").await;
    let handles: Vec<String> = receive(&broker, "a", 3)
        .await
        .into_iter()
        .map(|m| m.receipt_handle)
        .collect();
    assert_eq!(handles.len(), 3);
    let from_b = only(receive(&broker, "b", 1).await).receipt_handle;
    assert_eq!(
        delete(&broker, "a", &[&handles[0]]).await.unwrap(),
        pb::DeleteResponse {
            deleted: 1,
            errors: vec![]
        }
    );

    let forged = forged(&handles[1]);
    let batch = [&handles[0], &from_b, &forged, &handles[1], &handles[2]];
    let batch: Vec<&str> = batch.iter().map(|h| h.as_str()).collect();
    let response = delete(&broker, "a", &batch).await.unwrap();
    assert_eq!(response.deleted, 2);
    let errors: Vec<_> = response
        .errors
        .iter()
        .map(|e| (e.index, e.receipt_handle.as_str(), e.kind()))
        .collect();
    use pb::ReceiptHandleErrorKind::{Stale, Unknown};
    assert_eq!(
        errors,
        vec![
            (0, handles[0].as_str(), Stale),
            (1, from_b.as_str(), Unknown),
            (2, forged.as_str(), Unknown),
        ]
    );
    assert_eq!(counts(&broker, "a").await, counts_of(0, 0, 0, 0));
    assert_eq!(
        delete(&broker, "b", &[&from_b]).await.unwrap().deleted,
        1,
        "the other queue's message was not touched"
    );
}

#[tokio::test]
async fn a_malformed_handle_fails_the_whole_delete_and_deletes_nothing() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "q", attrs()).await;
    send(&broker, "q", "keep").await;
    let good = only(receive(&broker, "q", 1).await).receipt_handle;

    for (batch, index) in [
        (vec![good.as_str(), "!!!"], 1),
        (vec!["abc", good.as_str()], 0),
        (vec![good.as_str(), ""], 1),
    ] {
        let field = format!("receipt_handles[{index}]");
        expect_error(
            delete(&broker, "q", &batch).await,
            Code::InvalidArgument,
            &field,
        );
    }
    expect_error(
        delete(&broker, "q", &Vec::<String>::new()).await,
        Code::InvalidArgument,
        "receipt_handles",
    );
    let too_many = vec![good.as_str(); 33];
    expect_error(
        delete(&broker, "q", &too_many).await,
        Code::InvalidArgument,
        "receipt_handles",
    );

    assert_eq!(counts(&broker, "q").await, counts_of(0, 1, 0, 0));
    assert_eq!(delete(&broker, "q", &[&good]).await.unwrap().deleted, 1);
}

#[tokio::test]
async fn change_visibility_issues_a_new_handle_and_makes_the_old_one_stale() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "q", attrs()).await;
    let sent = send(&broker, "q", "slow job").await;
    let old = only(receive(&broker, "q", 1).await).receipt_handle;

    let before = SystemTime::now();
    let changed = change_visibility(&broker, "q", &old, 60).await.unwrap();
    assert_url_safe(&changed.receipt_handle);
    assert_ne!(changed.receipt_handle, old);
    let hidden_for = seconds_between(before, time(&changed.next_visible_time));
    assert!((hidden_for - 60.0).abs() < 2.0, "got {hidden_for}");

    let stale = delete(&broker, "q", &[&old]).await.unwrap();
    assert_eq!(stale.deleted, 0);
    assert_eq!(stale.errors[0].kind(), pb::ReceiptHandleErrorKind::Stale);
    expect_error(
        change_visibility(&broker, "q", &old, 10).await,
        Code::NotFound,
        "",
    );
    assert!(receive(&broker, "q", 1).await.is_empty(), "still hidden");

    let now = change_visibility(&broker, "q", &changed.receipt_handle, 0)
        .await
        .unwrap();
    let again = only(receive(&broker, "q", 1).await);
    assert_eq!(again.message_id, sent.message_id);
    assert_eq!(again.dequeue_count, 2);
    expect_error(
        change_visibility(&broker, "q", &now.receipt_handle, 5).await,
        Code::NotFound,
        "",
    );
    assert_eq!(
        delete(&broker, "q", &[&again.receipt_handle])
            .await
            .unwrap()
            .deleted,
        1
    );
}

#[tokio::test]
async fn change_visibility_refuses_malformed_forged_and_out_of_range_requests_changing_nothing() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "q", attrs()).await;
    send(&broker, "q", "job").await;
    let handle = only(receive(&broker, "q", 1).await).receipt_handle;

    expect_error(
        change_visibility(&broker, "q", "!!!", 10).await,
        Code::InvalidArgument,
        "receipt_handle",
    );
    let status = change_visibility(&broker, "q", &forged(&handle), 0)
        .await
        .unwrap_err();
    assert!(
        matches!(status.code(), Code::InvalidArgument | Code::NotFound),
        "{status:?}"
    );
    expect_error(
        change_visibility(&broker, "q", &handle, 43_201).await,
        Code::InvalidArgument,
        "visibility_timeout_seconds",
    );

    assert!(receive(&broker, "q", 1).await.is_empty(), "still hidden");
    assert_eq!(counts(&broker, "q").await, counts_of(0, 1, 0, 0));
    assert_eq!(delete(&broker, "q", &[&handle]).await.unwrap().deleted, 1);
}
