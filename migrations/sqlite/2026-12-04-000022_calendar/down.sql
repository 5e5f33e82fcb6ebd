DROP TABLE calendar_feeds;
DROP TABLE calendar_writes;
ALTER TABLE appointments DROP COLUMN calendar_etag;
ALTER TABLE appointments DROP COLUMN calendar_href;
