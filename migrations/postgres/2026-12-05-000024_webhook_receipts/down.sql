DROP TABLE webhook_receipts;
