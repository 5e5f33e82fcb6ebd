DROP INDEX messages_sender_idx;
