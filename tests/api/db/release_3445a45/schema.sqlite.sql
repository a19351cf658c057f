-- The schema tuanchain wrote at main 3445a45 (the last release without migrations):
-- Base.metadata.create_all on sqlite, rendered by SQLAlchemy 2.1.9. Test fixture: do not edit.

CREATE TABLE anchored_events (
	id INTEGER NOT NULL,
	leaf_index INTEGER NOT NULL,
	batch_id VARCHAR(66) NOT NULL,
	kind VARCHAR(16) NOT NULL,
	event_hash VARCHAR(66) NOT NULL,
	document_cid VARCHAR(128),
	document_digest VARCHAR(66),
	actor VARCHAR(42) NOT NULL,
	root VARCHAR(66),
	proof JSON,
	verification VARCHAR(16) NOT NULL,
	event_type VARCHAR(32),
	biz_step VARCHAR(128),
	event_time DATETIME,
	read_point VARCHAR(256),
	document JSON,
	attempts INTEGER NOT NULL,
	block_number BIGINT NOT NULL,
	tx_hash VARCHAR(66) NOT NULL,
	log_index INTEGER NOT NULL,
	block_time DATETIME NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (tx_hash, log_index, leaf_index)
);

CREATE INDEX ix_anchored_events_batch_id ON anchored_events (batch_id);

CREATE INDEX ix_anchored_events_batch_time ON anchored_events (batch_id, event_time);

CREATE INDEX ix_anchored_events_block_number ON anchored_events (block_number);

CREATE INDEX ix_anchored_events_event_hash ON anchored_events (event_hash);

CREATE INDEX ix_anchored_events_verification ON anchored_events (verification);

CREATE TABLE batch_status_events (
	id INTEGER NOT NULL,
	batch_id VARCHAR(66) NOT NULL,
	status VARCHAR(16) NOT NULL,
	actor VARCHAR(42) NOT NULL,
	reason_cid VARCHAR(128),
	block_number BIGINT NOT NULL,
	tx_hash VARCHAR(66) NOT NULL,
	log_index INTEGER NOT NULL,
	block_time DATETIME NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (tx_hash, log_index)
);

CREATE INDEX ix_batch_status_events_batch_id ON batch_status_events (batch_id);

CREATE INDEX ix_batch_status_events_block_number ON batch_status_events (block_number);

CREATE INDEX ix_batch_status_events_status ON batch_status_events (status);

CREATE TABLE batch_writers (
	id INTEGER NOT NULL,
	batch_id VARCHAR(66) NOT NULL,
	writer VARCHAR(42) NOT NULL,
	allowed BOOLEAN NOT NULL,
	block_number BIGINT NOT NULL,
	tx_hash VARCHAR(66) NOT NULL,
	log_index INTEGER NOT NULL,
	block_time DATETIME NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (tx_hash, log_index)
);

CREATE INDEX ix_batch_writers_batch_id ON batch_writers (batch_id);

CREATE INDEX ix_batch_writers_block_number ON batch_writers (block_number);

CREATE TABLE batches (
	id INTEGER NOT NULL,
	batch_id VARCHAR(66) NOT NULL,
	gtin VARCHAR(14) NOT NULL,
	lot VARCHAR(64) NOT NULL,
	supplier VARCHAR(42) NOT NULL,
	metadata_cid VARCHAR(128),
	metadata_json JSON,
	metadata_status VARCHAR(16) NOT NULL,
	breach_count INTEGER NOT NULL,
	cold_chain JSON,
	block_number BIGINT NOT NULL,
	tx_hash VARCHAR(66) NOT NULL,
	log_index INTEGER NOT NULL,
	block_time DATETIME NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (tx_hash, log_index),
	UNIQUE (batch_id)
);

CREATE INDEX ix_batches_block_number ON batches (block_number);

CREATE INDEX ix_batches_breach_count ON batches (breach_count);

CREATE INDEX ix_batches_gtin ON batches (gtin);

CREATE UNIQUE INDEX ix_batches_gtin_lot ON batches (gtin, lot);

CREATE INDEX ix_batches_supplier ON batches (supplier);

CREATE TABLE claim_events (
	id INTEGER NOT NULL,
	deal_id BIGINT NOT NULL,
	buyer VARCHAR(42) NOT NULL,
	leader VARCHAR(42),
	status VARCHAR(16) NOT NULL,
	quantity BIGINT NOT NULL,
	evidence_cid VARCHAR(128),
	by_default BOOLEAN NOT NULL,
	block_number BIGINT NOT NULL,
	tx_hash VARCHAR(66) NOT NULL,
	log_index INTEGER NOT NULL,
	block_time DATETIME NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (tx_hash, log_index)
);

CREATE INDEX ix_claim_events_block_number ON claim_events (block_number);

CREATE INDEX ix_claim_events_buyer ON claim_events (buyer);

CREATE INDEX ix_claim_events_deal_id ON claim_events (deal_id);

CREATE INDEX ix_claim_events_status ON claim_events (status);

CREATE TABLE deal_batches (
	id INTEGER NOT NULL,
	deal_id BIGINT NOT NULL,
	batch_id VARCHAR(66) NOT NULL,
	block_number BIGINT NOT NULL,
	tx_hash VARCHAR(66) NOT NULL,
	log_index INTEGER NOT NULL,
	block_time DATETIME NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (deal_id, batch_id)
);

CREATE INDEX ix_deal_batches_batch_id ON deal_batches (batch_id);

CREATE INDEX ix_deal_batches_block_number ON deal_batches (block_number);

CREATE INDEX ix_deal_batches_deal_id ON deal_batches (deal_id);

CREATE TABLE deal_outcomes (
	id INTEGER NOT NULL,
	deal_id BIGINT NOT NULL,
	kind VARCHAR(16) NOT NULL,
	batch_id VARCHAR(66),
	final_unit_price NUMERIC(78, 0),
	revenue NUMERIC(78, 0),
	supplier_amount NUMERIC(78, 0),
	platform_fee NUMERIC(78, 0),
	commission_total NUMERIC(78, 0),
	block_number BIGINT NOT NULL,
	tx_hash VARCHAR(66) NOT NULL,
	log_index INTEGER NOT NULL,
	block_time DATETIME NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (tx_hash, log_index)
);

CREATE INDEX ix_deal_outcomes_block_number ON deal_outcomes (block_number);

CREATE INDEX ix_deal_outcomes_deal_id ON deal_outcomes (deal_id);

CREATE INDEX ix_deal_outcomes_kind ON deal_outcomes (kind);

CREATE TABLE deals (
	id INTEGER NOT NULL,
	deal_id BIGINT NOT NULL,
	supplier VARCHAR(42) NOT NULL,
	token VARCHAR(42) NOT NULL,
	fee_recipient VARCHAR(42) NOT NULL,
	price_tiers JSON NOT NULL,
	commission_tiers JSON NOT NULL,
	min_quantity BIGINT NOT NULL,
	max_quantity BIGINT NOT NULL,
	per_buyer_limit BIGINT NOT NULL,
	join_deadline BIGINT NOT NULL,
	delivery_deadline BIGINT NOT NULL,
	dispute_window BIGINT NOT NULL,
	answer_window BIGINT NOT NULL,
	commission_bps INTEGER NOT NULL,
	platform_fee_bps INTEGER NOT NULL,
	block_number BIGINT NOT NULL,
	tx_hash VARCHAR(66) NOT NULL,
	log_index INTEGER NOT NULL,
	block_time DATETIME NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (tx_hash, log_index),
	UNIQUE (deal_id)
);

CREATE INDEX ix_deals_block_number ON deals (block_number);

CREATE INDEX ix_deals_supplier ON deals (supplier);

CREATE TABLE document_uploads (
	signature_digest VARCHAR(66) NOT NULL,
	uploader VARCHAR(42) NOT NULL,
	cid VARCHAR(100) NOT NULL,
	sha256 VARCHAR(64) NOT NULL,
	content_type VARCHAR(100) NOT NULL,
	size BIGINT NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (signature_digest)
);

CREATE INDEX ix_document_uploads_uploader ON document_uploads (uploader);

CREATE TABLE indexed_blocks (
	number BIGINT NOT NULL,
	hash VARCHAR(66) NOT NULL,
	PRIMARY KEY (number)
);

CREATE TABLE indexer_state (
	name VARCHAR(32) NOT NULL,
	chain_id BIGINT NOT NULL,
	start_block BIGINT NOT NULL,
	last_block BIGINT NOT NULL,
	head_block BIGINT NOT NULL,
	final_block BIGINT NOT NULL,
	version BIGINT NOT NULL,
	head_time DATETIME,
	updated_at DATETIME,
	PRIMARY KEY (name)
);

CREATE TABLE merkle_roots (
	id INTEGER NOT NULL,
	root VARCHAR(66) NOT NULL,
	leaf_count INTEGER NOT NULL,
	anchorer VARCHAR(42) NOT NULL,
	manifest_cid VARCHAR(128),
	manifest_status VARCHAR(16) NOT NULL,
	block_number BIGINT NOT NULL,
	tx_hash VARCHAR(66) NOT NULL,
	log_index INTEGER NOT NULL,
	block_time DATETIME NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (tx_hash, log_index),
	UNIQUE (root)
);

CREATE INDEX ix_merkle_roots_block_number ON merkle_roots (block_number);

CREATE INDEX ix_merkle_roots_manifest_status ON merkle_roots (manifest_status);

CREATE TABLE order_events (
	id INTEGER NOT NULL,
	deal_id BIGINT NOT NULL,
	buyer VARCHAR(42) NOT NULL,
	leader VARCHAR(42) NOT NULL,
	kind VARCHAR(16) NOT NULL,
	quantity BIGINT NOT NULL,
	amount NUMERIC(78, 0) NOT NULL,
	block_number BIGINT NOT NULL,
	tx_hash VARCHAR(66) NOT NULL,
	log_index INTEGER NOT NULL,
	block_time DATETIME NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (tx_hash, log_index)
);

CREATE INDEX ix_order_events_block_number ON order_events (block_number);

CREATE INDEX ix_order_events_buyer ON order_events (buyer);

CREATE INDEX ix_order_events_deal_buyer ON order_events (deal_id, buyer);

CREATE INDEX ix_order_events_deal_id ON order_events (deal_id);

CREATE INDEX ix_order_events_leader ON order_events (leader);

CREATE TABLE party_events (
	id INTEGER NOT NULL,
	kind VARCHAR(16) NOT NULL,
	account VARCHAR(42) NOT NULL,
	action VARCHAR(16) NOT NULL,
	credential_cid VARCHAR(128),
	"by" VARCHAR(42),
	block_number BIGINT NOT NULL,
	tx_hash VARCHAR(66) NOT NULL,
	log_index INTEGER NOT NULL,
	block_time DATETIME NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (tx_hash, log_index)
);

CREATE INDEX ix_party_events_account ON party_events (account);

CREATE INDEX ix_party_events_block_number ON party_events (block_number);

CREATE INDEX ix_party_events_kind ON party_events (kind);

CREATE TABLE payouts (
	id INTEGER NOT NULL,
	deal_id BIGINT NOT NULL,
	account VARCHAR(42) NOT NULL,
	kind VARCHAR(16) NOT NULL,
	amount NUMERIC(78, 0) NOT NULL,
	block_number BIGINT NOT NULL,
	tx_hash VARCHAR(66) NOT NULL,
	log_index INTEGER NOT NULL,
	block_time DATETIME NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (tx_hash, log_index)
);

CREATE INDEX ix_payouts_account ON payouts (account);

CREATE INDEX ix_payouts_block_number ON payouts (block_number);

CREATE INDEX ix_payouts_deal_id ON payouts (deal_id);

CREATE TABLE raw_logs (
	id INTEGER NOT NULL,
	address VARCHAR(42) NOT NULL,
	event VARCHAR(32) NOT NULL,
	args TEXT NOT NULL,
	block_number BIGINT NOT NULL,
	tx_hash VARCHAR(66) NOT NULL,
	log_index INTEGER NOT NULL,
	block_time DATETIME NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (tx_hash, log_index)
);

CREATE INDEX ix_raw_logs_block_number ON raw_logs (block_number);

CREATE INDEX ix_raw_logs_event ON raw_logs (event);

CREATE TABLE receipts (
	id INTEGER NOT NULL,
	deal_id BIGINT NOT NULL,
	leader VARCHAR(42) NOT NULL,
	batch_id VARCHAR(66) NOT NULL,
	event_hash VARCHAR(66) NOT NULL,
	document_digest VARCHAR(66) NOT NULL,
	quantity BIGINT NOT NULL,
	block_number BIGINT NOT NULL,
	tx_hash VARCHAR(66) NOT NULL,
	log_index INTEGER NOT NULL,
	block_time DATETIME NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (tx_hash, log_index)
);

CREATE INDEX ix_receipts_batch_id ON receipts (batch_id);

CREATE INDEX ix_receipts_block_number ON receipts (block_number);

CREATE INDEX ix_receipts_deal_id ON receipts (deal_id);

CREATE INDEX ix_receipts_leader ON receipts (leader);

CREATE TABLE relay_locks (
	name VARCHAR(80) NOT NULL,
	PRIMARY KEY (name)
);

CREATE TABLE relay_requests (
	id VARCHAR(36) NOT NULL,
	action VARCHAR(40) NOT NULL,
	signer VARCHAR(42) NOT NULL,
	target VARCHAR(42) NOT NULL,
	nonce BIGINT NOT NULL,
	deadline BIGINT NOT NULL,
	request_digest VARCHAR(66) NOT NULL,
	typed_data JSON NOT NULL,
	signature VARCHAR(200) NOT NULL,
	permit JSON,
	permit_signature VARCHAR(200),
	details JSON,
	status VARCHAR(16) NOT NULL,
	attempts INTEGER NOT NULL,
	next_attempt_at FLOAT NOT NULL,
	last_attempt_error TEXT,
	permit_tx_hash VARCHAR(66),
	relayer_nonce BIGINT,
	tx_hash VARCHAR(66),
	raw_tx TEXT,
	block_number BIGINT,
	error_code VARCHAR(80),
	error_message TEXT,
	error_args JSON,
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_relay_requests_request_digest ON relay_requests (request_digest);

CREATE INDEX ix_relay_requests_signer ON relay_requests (signer);

CREATE INDEX ix_relay_requests_status ON relay_requests (status);

CREATE INDEX ix_relay_requests_tx_hash ON relay_requests (tx_hash);
