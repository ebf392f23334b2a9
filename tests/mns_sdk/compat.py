"""Compatibility test: drives an MNS endpoint (bucketbus) with the official Python SDK only.

Consumer code written against Alibaba Cloud MNS must work against bucketbus unchanged, so this
script uses nothing but `aliyun-mns-sdk` (tests/mns_sdk/requirements.txt pins it) and checks
what each call returns. Every step prints `ok <step>`; the first failure prints
`FAILED <step>: <exception>` and exits 1.

Environment:
  MNS_ENDPOINT           http://host:port of the MNS API (required)
  MNS_ACCESS_KEY_ID      access key id (required)
  MNS_ACCESS_KEY_SECRET  access key secret (required)
  MNS_SDK_TOPICS         auto (default): run the topic part if the broker serves topics (a
                         CreateTopic answered InvalidRequestURL means it does not: the part is
                         reported SKIPPED); required: fail if it does not; off: don't try.
  MNS_SDK_RUN_ID         prefix of every queue/topic name (default: random), so runs against a
                         shared broker never meet.

Run by tests/it/mns_sdk.rs (cargo test), which installs the SDK into a virtualenv and starts
the broker.
"""

import base64
import hashlib
import os
import sys
import threading
import time
import traceback
import uuid
import warnings

from mns.account import Account, AccountMeta
from mns.mns_exception import MNSServerException
from mns.queue import Message, QueueMeta
from mns.subscription import (
    SubscriptionMeta,
    SubscriptionNotifyContentFormat,
    SubscriptionNotifyStrategy,
)
from mns.topic import Base64TopicMessage, TopicMessage, TopicMeta


class Step:
    """`with Step("name"):` runs one checked step: prints `ok name`, or fails the run."""

    def __init__(self, name):
        self.name = name
        self.skipped = False

    def __enter__(self):
        return self

    def skip(self, why):
        """Ends the step as not run (it prints `SKIPPED <step>: why`, never `ok`)."""
        print("SKIPPED %s: %s" % (self.name, why), flush=True)
        self.skipped = True

    def __exit__(self, kind, error, tb):
        if error is None:
            if not self.skipped:
                print("ok " + self.name, flush=True)
            return False
        traceback.print_exception(kind, error, tb, file=sys.stderr)
        print("FAILED %s: %s: %s" % (self.name, kind.__name__, one_line(error)), flush=True)
        sys.exit(1)


def one_line(error):
    if isinstance(error, MNSServerException):
        return "type=%s message=%r request_id=%s sub_errors=%r" % (
            error.type, error.message, error.request_id, error.sub_errors)
    return " ".join(str(error).split())


def check(condition, what, *values):
    if not condition:
        raise AssertionError(what % values if values else what)


def check_eq(got, expected, what):
    if got != expected:
        raise AssertionError("%s: got %r, expected %r" % (what, got, expected))


def server_error(types, call, *args):
    """Runs `call(*args)`, which must raise MNSServerException of one of `types`."""
    try:
        result = call(*args)
    except MNSServerException as e:
        check(e.type in types, "expected MNSServerException %s, got type=%r message=%r",
              "/".join(types), e.type, e.message)
        check(e.request_id, "the exception has no request id: %r", e.request_id)
        return e
    raise AssertionError("expected MNSServerException %s, the call returned %r"
                         % ("/".join(types), result))


def md5_upper(text):
    return hashlib.md5(text.encode("utf-8")).hexdigest().upper()


def now_ms():
    return int(time.time() * 1000)


def env(name):
    value = os.environ.get(name, "")
    if not value:
        print("FAILED setup: the environment variable %s is required" % name, flush=True)
        sys.exit(2)
    return value


class Run:
    def __init__(self):
        self.endpoint = env("MNS_ENDPOINT").rstrip("/")
        self.key_id = env("MNS_ACCESS_KEY_ID")
        self.secret = env("MNS_ACCESS_KEY_SECRET")
        self.topics = os.environ.get("MNS_SDK_TOPICS", "auto")
        check(self.topics in ("auto", "required", "off"),
              "MNS_SDK_TOPICS must be auto, required or off, not %r", self.topics)
        self.prefix = "sdk-%s-" % (os.environ.get("MNS_SDK_RUN_ID") or uuid.uuid4().hex[:10])
        self.account = self.new_account()

    def new_account(self):
        return Account(self.endpoint, self.key_id, self.secret)

    def name(self, suffix):
        return self.prefix + suffix

    def queue_url(self, name):
        return "%s/queues/%s" % (self.endpoint, name)


# --------------------------------------------------------------------------------------------
# Queues and messages
# --------------------------------------------------------------------------------------------

def queue_admin(run):
    name = run.name("main")
    queue = run.account.get_queue(name)
    meta = QueueMeta()
    meta.set_visibilitytimeout(30)
    meta.set_maximum_message_size(65536)
    meta.set_message_retention_period(3600)
    meta.set_delay_seconds(0)
    meta.set_polling_wait_seconds(0)
    meta.set_logging_enabled(False)

    with Step("account.get_attributes"):
        check_eq(run.account.get_attributes().logging_bucket, "", "LoggingBucket")

    with Step("queue.create"):
        check_eq(queue.create(meta), run.queue_url(name), "queue URL")

    with Step("queue.create.same-attributes"):
        check_eq(queue.create(meta), run.queue_url(name), "queue URL of an existing queue")

    with Step("queue.create.different-attributes"):
        other = QueueMeta()
        other.set_visibilitytimeout(60)
        server_error(["QueueAlreadyExist"], queue.create, other)

    with Step("queue.get_attributes"):
        got = queue.get_attributes()
        check_eq(got.queue_name, name, "QueueName")
        check_eq(got.visibility_timeout, 30, "VisibilityTimeout")
        check_eq(got.maximum_message_size, 65536, "MaximumMessageSize")
        check_eq(got.message_retention_period, 3600, "MessageRetentionPeriod")
        check_eq(got.delay_seconds, 0, "DelaySeconds")
        check_eq(got.polling_wait_seconds, 0, "PollingWaitSeconds")
        check_eq(got.logging_enabled, False, "LoggingEnabled")
        check(abs(got.create_time - time.time()) < 3600, "CreateTime %r is not now (seconds)",
              got.create_time)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            counts = (got.active_messages, got.inactive_messages, got.delay_messages)
        check_eq(counts, (0, 0, 0), "Active/Inactive/DelayMessages")

    with Step("queue.set_attributes"):
        change = QueueMeta()
        change.set_visibilitytimeout(40)
        queue.set_attributes(change)
        got = queue.get_attributes()
        check_eq(got.visibility_timeout, 40, "VisibilityTimeout after set_attributes")
        check_eq(got.message_retention_period, 3600, "MessageRetentionPeriod (not set)")
        check(got.last_modify_time >= got.create_time, "LastModifyTime %r < CreateTime %r",
              got.last_modify_time, got.create_time)

    with Step("queue.set_attributes.out-of-range"):
        bad = QueueMeta()
        bad.set_visibilitytimeout(43201)
        server_error(["InvalidArgument"], queue.set_attributes, bad)
    return queue


def single_messages(run, queue):
    text = "hello <&> 世界"
    sent = None
    with Step("message.send.base64"):
        sent = queue.send_message(Message(text))
        check(sent.message_id, "no MessageId")
        encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
        check_eq(sent.message_body_md5, md5_upper(encoded), "MessageBodyMD5 (of the base64 text)")

    with Step("message.peek"):
        peeked = queue.peek_message()
        check_eq(peeked.message_id, sent.message_id, "MessageId")
        check_eq(peeked.message_body, text.encode("utf-8"), "body (decoded by the SDK)")
        check_eq(peeked.dequeue_count, 0, "DequeueCount")
        check_eq(peeked.priority, 8, "Priority (default)")
        check_eq(peeked.first_dequeue_time, peeked.enqueue_time,
                 "FirstDequeueTime of a message never received")

    first = None
    with Step("message.receive"):
        first = queue.receive_message_with_str_body()
        check_eq(first.message_id, sent.message_id, "MessageId")
        check_eq(first.message_body, text, "body")
        check_eq(first.dequeue_count, 1, "DequeueCount")
        check(first.receipt_handle, "no ReceiptHandle")
        check(39000 <= first.next_visible_time - first.first_dequeue_time <= 41000,
              "NextVisibleTime %r is not FirstDequeueTime %r + the 40 s visibility timeout",
              first.next_visible_time, first.first_dequeue_time)

    with Step("message.receive.in-flight-is-invisible"):
        server_error(["MessageNotExist"], queue.receive_message)
        server_error(["MessageNotExist"], queue.peek_message)

    changed = None
    with Step("message.change_visibility"):
        changed = queue.change_message_visibility(first.receipt_handle, 0)
        check(changed.receipt_handle and changed.receipt_handle != first.receipt_handle,
              "ChangeMessageVisibility must hand out a new handle, got %r", changed.receipt_handle)
        check(int(changed.next_visible_time) <= now_ms() + 1000,
              "NextVisibleTime %r is not now", changed.next_visible_time)

    with Step("message.change_visibility.stale-handle"):
        server_error(["MessageNotExist", "ReceiptHandleError"],
                     queue.change_message_visibility, first.receipt_handle, 10)

    again = None
    with Step("message.receive.again"):
        again = queue.receive_message()
        check_eq(again.message_id, sent.message_id, "MessageId")
        check_eq(again.dequeue_count, 2, "DequeueCount")
        check(again.receipt_handle not in (first.receipt_handle, changed.receipt_handle),
              "a second receive must hand out a new handle")

    with Step("message.delete.stale-handle"):
        server_error(["MessageNotExist", "ReceiptHandleError"],
                     queue.delete_message, changed.receipt_handle)

    with Step("message.delete.malformed-handle"):
        server_error(["ReceiptHandleError"], queue.delete_message, "not-a-handle")

    with Step("message.delete"):
        queue.delete_message(again.receipt_handle)
        server_error(["MessageNotExist"], queue.peek_message)
        server_error(["MessageNotExist", "ReceiptHandleError"],
                     queue.delete_message, again.receipt_handle)

    with Step("message.send.raw"):
        queue.set_encoding(False)
        raw = "raw <xml> & text, not base64"
        sent = queue.send_message(Message(raw, priority=3))
        check_eq(sent.message_body_md5, md5_upper(raw), "MessageBodyMD5 (of the raw text)")
        got = queue.receive_message()
        check_eq(got.message_body, raw, "raw body")
        check_eq(got.priority, 3, "Priority")
        queue.delete_message(got.receipt_handle)
        queue.set_encoding(True)

    with Step("message.send.delayed"):
        delayed = queue.send_message(Message("later", delay_seconds=3600))
        check(delayed.message_id, "no MessageId")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check_eq(queue.get_attributes().delay_messages, 1, "DelayMessages")
        server_error(["MessageNotExist"], queue.receive_message, 0)

    with Step("message.send.out-of-range"):
        server_error(["InvalidArgument"], queue.send_message, Message("x", priority=17))


def send_later(run, queue, bodies):
    """Starts a thread that sends `bodies` (a batch if several) 1.5 s from now, with an
    Account of its own (its own connection, as another process would)."""
    outcome = {}
    sender = run.new_account().get_queue(queue.queue_name)

    def send():
        try:
            time.sleep(1.5)
            if len(bodies) == 1:
                outcome["sent"] = [sender.send_message(Message(bodies[0]))]
            else:
                outcome["sent"] = sender.batch_send_message([Message(b) for b in bodies])
        except Exception as e:  # reported by the main thread
            outcome["error"] = e

    thread = threading.Thread(target=send)
    thread.start()
    return thread, outcome


def long_poll(run, queue):
    with Step("message.receive.wait-expires"):
        server_error(["MessageNotExist"], queue.receive_message, 1)

    with Step("message.receive.long-poll"):
        text = "sent while a receive waits"
        started = now_ms()
        thread, outcome = send_later(run, queue, [text])
        got = queue.receive_message_with_str_body(30)
        thread.join()
        check("error" not in outcome, "the sender failed: %r", outcome.get("error"))
        check_eq(got.message_body, text, "body received by the long poll")
        check_eq(got.message_id, outcome["sent"][0].message_id, "MessageId")
        check(got.enqueue_time >= started,
              "EnqueueTime %r: the message was there before the receive (%r)",
              got.enqueue_time, started)
        queue.delete_message(got.receipt_handle)

    with Step("batch.receive.long-poll"):
        started = now_ms()
        thread, outcome = send_later(run, queue, ["poll-1", "poll-2"])
        got = queue.batch_receive_message_with_str_body(16, 30)
        thread.join()
        check("error" not in outcome, "the sender failed: %r", outcome.get("error"))
        sent_ids = [m.message_id for m in outcome["sent"]]
        # The batch may hold one or both: at least one, each of the sent ones.
        check(got and all(m.message_id in sent_ids for m in got),
              "received %r, sent %r", [m.message_id for m in got], sent_ids)
        check(all(m.enqueue_time >= started for m in got), "a message was there before")
        handles = [m.receipt_handle for m in got]
        rest = [m for m in sent_ids if m not in [g.message_id for g in got]]
        if rest:
            late = queue.receive_message()
            check_eq(late.message_id, rest[0], "the other message of the batch")
            handles.append(late.receipt_handle)
        queue.batch_delete_message(handles)


def batches(run, queue):
    priorities = [8, 1, 8, 16, 3]
    bodies = ["batch-%d" % i for i in range(len(priorities))]
    sent = None
    with Step("batch.send"):
        sent = queue.batch_send_message(
            [Message(b, priority=p) for b, p in zip(bodies, priorities)])
        check_eq(len(sent), len(bodies), "entries answered")
        for entry, body in zip(sent, bodies):
            check(entry.message_id, "no MessageId")
            encoded = base64.b64encode(body.encode("utf-8")).decode("ascii")
            check_eq(entry.message_body_md5, md5_upper(encoded), "MessageBodyMD5 of " + body)

    with Step("batch.peek"):
        peeked = queue.batch_peek_message_with_str_body(16)
        check_eq(sorted(m.message_body for m in peeked), sorted(bodies), "peeked bodies")
        check(all(m.dequeue_count == 0 for m in peeked), "peek must not receive")

    received = None
    with Step("batch.receive"):
        received = queue.batch_receive_message_with_str_body(16, 1)
        # Priority 1 first; equal priorities in the order they were sent.
        expected = [b for _, _, b in sorted(zip(priorities, range(len(bodies)), bodies))]
        check_eq([m.message_body for m in received], expected, "bodies by priority")
        check_eq([m.priority for m in received], sorted(priorities), "priorities")
        handles = [m.receipt_handle for m in received]
        check_eq(len(set(handles)), len(handles), "distinct receipt handles")
        check(all(m.dequeue_count == 1 for m in received), "DequeueCount 1 each")

    with Step("batch.receive.empty"):
        server_error(["MessageNotExist"], queue.batch_receive_message, 16, 1)
        server_error(["MessageNotExist"], queue.batch_peek_message, 16)

    with Step("batch.delete.partial-failure"):
        handles = [m.receipt_handle for m in received]
        queue.delete_message(handles[0])
        error = server_error(["MessageNotExist", "ReceiptHandleError"],
                             queue.batch_delete_message, handles)
        check_eq([e["ReceiptHandle"] for e in error.sub_errors], [handles[0]],
                 "sub_errors' handles (only the one deleted before)")
        check_eq(error.sub_errors[0]["ErrorCode"], error.type, "sub_errors[0] ErrorCode")
        # The other handles of the batch were deleted all the same.
        server_error(["MessageNotExist", "ReceiptHandleError"],
                     queue.batch_delete_message, handles[1:2])

    with Step("batch.delete"):
        queue.batch_send_message([Message("d1"), Message("d2")])
        got = queue.batch_receive_message(16)
        check_eq(len(got), 2, "messages received")
        queue.batch_delete_message([m.receipt_handle for m in got])
        server_error(["MessageNotExist"], queue.batch_peek_message, 16)

    with Step("batch.send.partial-failure"):
        error = server_error(["InvalidArgument"], queue.batch_send_message,
                             [Message("fine"), Message("bad priority", priority=17)])
        entries = error.sub_errors
        check_eq(len(entries), 2, "sub_errors entries (one per message)")
        check(entries[0].get("MessageId"), "the valid entry has no MessageId: %r", entries[0])
        check_eq(entries[1].get("ErrorCode"), "InvalidArgument", "the bad entry's ErrorCode")
        got = queue.receive_message_with_str_body()
        check_eq(got.message_body, "fine", "the valid entry was sent")
        queue.delete_message(got.receipt_handle)


def listing(run):
    names = [run.name("list-%s" % c) for c in "abc"]
    with Step("list_queue.paging"):
        for name in names:
            run.account.get_queue(name).create(QueueMeta())
        prefix = run.name("list-")
        first, marker = run.account.list_queue(prefix, 2)
        check_eq(first, [run.queue_url(n) for n in names[:2]], "first page")
        check(marker, "a first page of 2 out of 3 must have a NextMarker")
        second, end = run.account.list_queue(prefix, 2, marker)
        check_eq(second, [run.queue_url(names[2])], "second page")
        check_eq(end, "", "NextMarker of the last page")
        everything, _ = run.account.list_queue(prefix)
        check_eq(everything, [run.queue_url(n) for n in names], "all queues with the prefix")
        nothing, _ = run.account.list_queue(run.name("no-such-prefix-"))
        check_eq(nothing, [], "no queue with an unused prefix")

    with Step("queue.delete"):
        for name in names:
            run.account.get_queue(name).delete()
        left, _ = run.account.list_queue(run.name("list-"))
        check_eq(left, [], "queues left after delete")
        server_error(["QueueNotExist"], run.account.get_queue(names[0]).get_attributes)


def errors(run):
    with Step("errors.queue-not-exist"):
        missing = run.account.get_queue(run.name("missing"))
        server_error(["QueueNotExist"], missing.get_attributes)
        server_error(["QueueNotExist"], missing.send_message, Message("x"))
        server_error(["QueueNotExist"], missing.receive_message)
        server_error(["QueueNotExist"], missing.peek_message)
        server_error(["QueueNotExist"], missing.set_attributes, QueueMeta(vis_timeout=5))

    with Step("errors.bad-signature"):
        stranger = Account(run.endpoint, run.key_id, run.secret + "-wrong")
        queue = stranger.get_queue(run.name("main"))
        # Refused before the body is read, twice on one client: never a NetWorkException.
        server_error(["SignatureDoesNotMatch"], queue.send_message, Message("x"))
        server_error(["SignatureDoesNotMatch"], queue.send_message, Message("x"))
        server_error(["SignatureDoesNotMatch"], queue.peek_message)

    with Step("errors.unsupported-call-keeps-the-client-working"):
        # SetAccountAttributes (a body the broker may not read), then the same client again:
        # it used to fail with NetWorkException "[Errno 32] Broken pipe".
        try:
            run.account.set_attributes(AccountMeta("logs"))
        except MNSServerException as e:
            check_eq(e.type, "InvalidRequestURL", "SetAccountAttributes error type")
        urls, _ = run.account.list_queue(run.name("main"))
        check_eq(urls, [run.queue_url(run.name("main"))], "ListQueue on the same client")


# --------------------------------------------------------------------------------------------
# Topics and subscriptions
# --------------------------------------------------------------------------------------------

def topics_served(run, topic, step):
    """Creates `topic`; False if the broker has no topic routes (and MNS_SDK_TOPICS allows)."""
    try:
        check_eq(topic.create(TopicMeta()), "%s/topics/%s" % (run.endpoint, topic.topic_name),
                 "topic URL")
        return True
    except MNSServerException as e:
        if e.type == "InvalidRequestURL" and run.topics == "auto":
            step.skip("the broker has no MNS topic routes, so no topic step ran (CreateTopic "
                      "answered InvalidRequestURL: %s)" % e.message)
            return False
        raise


def topics(run):
    """CreateTopic … DeleteTopic, and publish to subscribed queues."""
    name = run.name("topic")
    topic = run.account.get_topic(name)
    topic_url = "%s/topics/%s" % (run.endpoint, name)
    with Step("topic.create") as step:
        if not topics_served(run, topic, step):
            return False
        check_eq(topic.create(TopicMeta()), topic_url, "topic URL (create again, same attributes)")

    with Step("topic.create.different-attributes"):
        server_error(["TopicAlreadyExist"], topic.create, TopicMeta(maximum_message_size=1024))

    with Step("topic.get_attributes"):
        got = topic.get_attributes()
        check_eq(got.topic_name, name, "TopicName")
        check_eq(got.maximum_message_size, 65536, "MaximumMessageSize")
        check(got.message_retention_period > 0, "MessageRetentionPeriod %r",
              got.message_retention_period)
        check_eq(got.logging_enabled, False, "LoggingEnabled")
        check(abs(got.create_time - time.time()) < 3600, "CreateTime %r", got.create_time)

    with Step("topic.set_attributes"):
        topic.set_attributes(TopicMeta(maximum_message_size=32768))
        check_eq(topic.get_attributes().maximum_message_size, 32768, "MaximumMessageSize")

    all_queue = run.account.get_queue(run.name("all"))
    tagged_queue = run.account.get_queue(run.name("tagged"))
    every = topic.get_subscription(run.name("sub-all"))
    tagged = topic.get_subscription(run.name("sub-tagged"))

    def endpoint(queue):
        return "acs:mns:cn-hangzhou:123:queues/%s" % queue.queue_name

    with Step("subscribe.queue"):
        for queue in (all_queue, tagged_queue):
            queue.create(QueueMeta())
        meta = SubscriptionMeta(endpoint(all_queue),
                                notify_content_format=SubscriptionNotifyContentFormat.SIMPLIFIED)
        url = every.subscribe(meta)
        check_eq(url, "%s/subscriptions/%s" % (topic_url, every.subscription_name),
                 "subscription URL")
        check_eq(every.subscribe(meta), url, "subscribe again, same attributes")
        filtered = SubscriptionMeta(endpoint(tagged_queue),
                                    notify_content_format=SubscriptionNotifyContentFormat.SIMPLIFIED,
                                    filter_tag="important")
        tagged.subscribe(filtered)

    with Step("subscribe.different-attributes"):
        other = SubscriptionMeta(endpoint(all_queue),
                                 notify_content_format=SubscriptionNotifyContentFormat.XML)
        server_error(["SubscriptionAlreadyExist"], every.subscribe, other)

    with Step("subscription.get_attributes"):
        got = tagged.get_attributes()
        check_eq(got.topic_name, name, "TopicName")
        check_eq(got.subscription_name, tagged.subscription_name, "SubscriptionName")
        check_eq(got.endpoint, endpoint(tagged_queue), "Endpoint")
        check_eq(got.filter_tag, "important", "FilterTag")
        check_eq(got.notify_strategy, SubscriptionNotifyStrategy.BACKOFF, "NotifyStrategy")
        check_eq(got.notify_content_format, SubscriptionNotifyContentFormat.SIMPLIFIED,
                 "NotifyContentFormat")

    with Step("subscription.set_attributes"):
        tagged.set_attributes(SubscriptionMeta(
            notify_strategy=SubscriptionNotifyStrategy.EXPONENTIAL))
        check_eq(tagged.get_attributes().notify_strategy,
                 SubscriptionNotifyStrategy.EXPONENTIAL, "NotifyStrategy after set")

    with Step("publish.base64.tagged"):
        text = "hello topic 世界"
        published = topic.publish_message(Base64TopicMessage(text, "important"))
        encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
        check_eq(published.message_body_md5, md5_upper(encoded), "MessageBodyMD5")
        for queue in (all_queue, tagged_queue):
            got = queue.receive_message_with_str_body(30)
            check_eq(got.message_body, text, "body in " + queue.queue_name)
            queue.delete_message(got.receipt_handle)

    with Step("publish.raw.filtered-out"):
        plain = "plain <text> & more"
        published = topic.publish_message(TopicMessage(plain, "other"))
        check_eq(published.message_body_md5, md5_upper(plain), "MessageBodyMD5")
        topic.publish_message(Base64TopicMessage("third", "important"))
        all_queue.set_encoding(False)
        got = all_queue.receive_message(30)
        check_eq(got.message_body, plain, "raw body in the unfiltered queue")
        all_queue.delete_message(got.receipt_handle)
        all_queue.set_encoding(True)
        got = tagged_queue.receive_message_with_str_body(30)
        check_eq(got.message_body, "third", "the filtered queue skips the message tagged other")
        tagged_queue.delete_message(got.receipt_handle)

    second = run.account.get_topic(run.name("topic2"))
    with Step("list_topic.paging"):
        second.create(TopicMeta())
        first_page, marker = run.account.list_topic(run.prefix + "topic", 1)
        check_eq(first_page, [topic_url], "first page")
        check(marker, "a first page of 1 out of 2 must have a NextMarker")
        rest, end = run.account.list_topic(run.prefix + "topic", 1, marker)
        check_eq(rest, ["%s/topics/%s" % (run.endpoint, second.topic_name)], "second page")
        check_eq(end, "", "NextMarker of the last page")

    with Step("list_subscription_by_topic.paging"):
        urls = ["%s/subscriptions/%s" % (topic_url, s.subscription_name) for s in (every, tagged)]
        first_page, marker = topic.list_subscription(run.name("sub-"), 1)
        check_eq(first_page, urls[:1], "first page")
        check(marker, "a first page of 1 out of 2 must have a NextMarker")
        rest, end = topic.list_subscription(run.name("sub-"), 1, marker)
        check_eq(rest, urls[1:], "second page")
        check_eq(end, "", "NextMarker of the last page")

    with Step("unsubscribe"):
        tagged.unsubscribe()
        server_error(["SubscriptionNotExist"], tagged.get_attributes)
        left, _ = topic.list_subscription(run.name("sub-"))
        check_eq(left, ["%s/subscriptions/%s" % (topic_url, every.subscription_name)],
                 "subscriptions left")

    with Step("topic.delete"):
        topic.delete()
        second.delete()
        server_error(["TopicNotExist"], topic.get_attributes)
        server_error(["TopicNotExist"], topic.publish_message, TopicMessage("x"))
        left, _ = run.account.list_topic(run.prefix + "topic")
        check_eq(left, [], "topics left")
        for queue in (all_queue, tagged_queue):
            queue.delete()
    return True


def main():
    with Step("setup"):
        run = Run()
    print("MNS SDK compatibility run against %s, names %s*" % (run.endpoint, run.prefix),
          flush=True)
    queue = queue_admin(run)
    single_messages(run, queue)
    long_poll(run, queue)
    batches(run, queue)
    listing(run)
    errors(run)
    with Step("queue.delete.main"):
        queue.delete()
        server_error(["QueueNotExist"], queue.get_attributes)
    ran_topics = run.topics != "off" and topics(run)
    print("PASSED queues%s" % (" and topics" if ran_topics else " (topics not run)"), flush=True)


if __name__ == "__main__":
    main()
