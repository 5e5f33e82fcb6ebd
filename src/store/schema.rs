//! Diesel table definitions shared by SQLite and PostgreSQL. Written by hand to
//! mirror `migrations/sqlite` and `migrations/postgres` (same tables, same
//! columns), using only SQL types that map identically on both backends and
//! through [`super::DbConnection`]: `Text` (ids are UUID strings), `BigInt`
//! (i64), `Integer` (i32), `Bool` and `Timestamp` (chrono `NaiveDateTime`,
//! always UTC). Status-like columns hold the lowercase words named on each
//! column and are enforced by `CHECK` constraints in the migrations.

diesel::table! {
    /// A business served by switchboard; `config_json` is the tenant's
    /// configuration as declared in `config.toml`, upserted at start-up.
    /// `session_json`: the operator's session settings for its new calls
    /// (JSON), edited `session_version` times.
    tenants (id) {
        id -> Text,
        name -> Text,
        config_json -> Text,
        updated_at -> Timestamp,
        session_json -> Nullable<Text>,
        session_version -> BigInt,
    }
}

diesel::table! {
    /// One phone or browser call. `status`: `in_progress`, `completed`,
    /// `refused` or `interrupted`; durations and latencies in milliseconds.
    calls (id) {
        id -> Text,
        tenant_id -> Nullable<Text>,
        carrier -> Text,
        carrier_call_sid -> Nullable<Text>,
        stream_sid -> Nullable<Text>,
        from_number -> Nullable<Text>,
        to_number -> Nullable<Text>,
        status -> Text,
        model_provider -> Nullable<Text>,
        started_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
        duration_ms -> Nullable<BigInt>,
        ended_reason -> Nullable<Text>,
        link_restarts -> Integer,
        turn_latency_p50_ms -> Nullable<Integer>,
        turn_latency_max_ms -> Nullable<Integer>,
        recording_sid -> Nullable<Text>,
        /// Short summary written when the call has ended (see `crate::summary`).
        summary -> Nullable<Text>,
        /// The node carrying the call (`cluster.node_id`).
        node_id -> Nullable<Text>,
        /// Twilio's answering machine detection verdict (`AnsweredBy`) on an
        /// outbound call; NULL without detection.
        answered_by -> Nullable<Text>,
        /// The call's local recording, relative to `recording.dir`
        /// (`tenant/YYYY-MM-DD/call id.wav`); NULL when not recorded.
        recording_file -> Nullable<Text>,
        /// Why the local recording stopped early or lost audio; NULL when whole.
        recording_note -> Nullable<Text>,
    }
}

diesel::table! {
    /// One utterance of a call's transcript; `seq` orders entries within a
    /// call and is unique per call.
    transcript_entries (id) {
        id -> Text,
        call_id -> Text,
        seq -> Integer,
        role -> Text,
        text -> Text,
        item_id -> Nullable<Text>,
        interrupted -> Bool,
        created_at -> Timestamp,
        /// Where the line began, ms from the call's start; NULL for older lines.
        offset_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// One tool call made by a model; `arguments` and `result` are JSON text,
    /// `duration_ms` is wall time of the tool run.
    tool_invocations (id) {
        id -> Text,
        call_id -> Nullable<Text>,
        tenant_id -> Nullable<Text>,
        tool_call_id -> Text,
        name -> Text,
        arguments -> Text,
        result -> Nullable<Text>,
        error -> Nullable<Text>,
        duration_ms -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// A tenant's customer, unique per `(tenant_id, phone)`.
    customers (id) {
        id -> Text,
        tenant_id -> Text,
        name -> Nullable<Text>,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// A booking. `status`: `booked` or `cancelled`; a partial unique index
    /// allows one `booked` row per `(tenant_id, starts_at)`.
    appointments (id) {
        id -> Text,
        tenant_id -> Text,
        customer_id -> Text,
        service -> Text,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        status -> Text,
        call_id -> Nullable<Text>,
        created_at -> Timestamp,
        calendar_href -> Nullable<Text>,
        calendar_etag -> Nullable<Text>,
    }
}

diesel::table! {
    /// A message or callback request taken from a caller. `kind`: `message`
    /// or `callback_info`; `status`: `new`, `read` or `handled` (by
    /// `handled_by`, at `handled_at`).
    caller_messages (id) {
        id -> Text,
        tenant_id -> Text,
        call_id -> Nullable<Text>,
        kind -> Text,
        caller_name -> Text,
        caller_phone -> Nullable<Text>,
        message -> Text,
        urgency -> Text,
        created_at -> Timestamp,
        status -> Text,
        handled_by -> Nullable<Text>,
        handled_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// The audio of a `voicemail` caller message (one row per message):
    /// `source` `local` (captured from the call's media stream) or `twilio`
    /// (a `<Record>` recording, `recording_sid` unique so a retried status
    /// callback stores once); `audio` is a 16-bit mono WAV, `duration_ms` long.
    voicemails (message_id) {
        message_id -> Text,
        call_id -> Nullable<Text>,
        source -> Text,
        recording_sid -> Nullable<Text>,
        content_type -> Text,
        duration_ms -> BigInt,
        audio -> Binary,
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// An SMS or email, in or out. `channel`: `sms` or `email`; `direction`:
    /// `inbound` or `outbound`; `provider_id` (Twilio `MessageSid`, SendGrid
    /// message id) is unique, which makes webhook retries idempotent.
    messages (id) {
        id -> Text,
        tenant_id -> Nullable<Text>,
        channel -> Text,
        direction -> Text,
        provider_id -> Nullable<Text>,
        customer_id -> Nullable<Text>,
        from_addr -> Text,
        to_addr -> Text,
        subject -> Nullable<Text>,
        body -> Text,
        in_reply_to -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// An authenticated Node.js webhook client; `tenant_ids` is a JSON array
    /// of tenant ids, `token_hash` a hash of its bearer token (never the
    /// token itself); a token is refused once `revoked_at` is set or
    /// `expires_at` has passed.
    node_clients (id) {
        id -> Text,
        name -> Text,
        tenant_ids -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Events kept for delivery to a tenant's Node client, in `seq` order
    /// (and, delivered at once, the answers written to webhook-form clients).
    outbox (id) {
        id -> Text,
        seq -> BigInt,
        tenant_id -> Text,
        payload -> Text,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Owner notifications, stored before they are sent: one row per event
    /// and recipient (`event_key` + `recipient` unique). `event`:
    /// `message_taken`, `booking_made`, `booking_cancelled` or `call_summary`;
    /// `channel`: `sms` or `email`; `status`: `pending` (due at
    /// `next_attempt_at`), `sent` or `failed`.
    notifications (id) {
        id -> Text,
        tenant_id -> Text,
        event_key -> Text,
        event -> Text,
        urgent -> Bool,
        channel -> Text,
        recipient -> Text,
        subject -> Text,
        body -> Text,
        call_id -> Nullable<Text>,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        last_error -> Nullable<Text>,
        provider_id -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// A person who signs in: `owner` or `staff` of `tenant_id`, or `admin` of
    /// the whole server (no tenant). `password_hash` is an Argon2id PHC string.
    users (id) {
        id -> Text,
        email -> Text,
        tenant_id -> Nullable<Text>,
        role -> Text,
        password_hash -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// A signed-in browser: the SHA-256 (hex) of its session cookie.
    user_sessions (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        address -> Nullable<Text>,
    }
}

diesel::table! {
    /// An integration token of one tenant, kept as the SHA-256 (hex) of the token.
    api_tokens (id) {
        id -> Text,
        tenant_id -> Text,
        name -> Text,
        token_hash -> Text,
        read_only -> Bool,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// One change by a person or token: who, for which tenant, what, when, from where.
    audit_log (id) {
        id -> Text,
        at -> Timestamp,
        actor -> Text,
        actor_kind -> Text,
        tenant_id -> Nullable<Text>,
        action -> Text,
        object -> Nullable<Text>,
        detail -> Nullable<Text>,
        address -> Nullable<Text>,
    }
}

diesel::joinable!(transcript_entries -> calls (call_id));
diesel::table! {
    /// Event writes a tenant's CalDAV calendar has not taken yet, one per
    /// appointment: `op` is `put` (create the booking's event) or `delete`
    /// (remove a cancelled booking's event); retried until they land.
    calendar_writes (appointment_id) {
        appointment_id -> Text,
        tenant_id -> Text,
        op -> Text,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// The token of each tenant's subscribable calendar feed.
    calendar_feeds (tenant_id) {
        tenant_id -> Text,
        token -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(appointments -> customers (customer_id));
diesel::joinable!(voicemails -> caller_messages (message_id));
diesel::joinable!(user_sessions -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    tenants,
    calls,
    transcript_entries,
    tool_invocations,
    customers,
    appointments,
    caller_messages,
    voicemails,
    messages,
    node_clients,
    outbox,
    notifications,
    users,
    user_sessions,
    api_tokens,
    audit_log,
    calendar_writes,
    calendar_feeds,
);

diesel::table! {
    /// Webhook deliveries (and the calls they announced) already acted on,
    /// by `key`; purged once older than the signature window.
    webhook_receipts (key) {
        key -> Text,
        received_at -> Timestamp,
    }
}
