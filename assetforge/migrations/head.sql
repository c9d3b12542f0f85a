CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
CREATE TABLE builds (
	id INTEGER NOT NULL, 
	started_at VARCHAR NOT NULL, 
	finished_at VARCHAR, 
	command VARCHAR NOT NULL, 
	status VARCHAR NOT NULL, 
	summary_json TEXT, 
	PRIMARY KEY (id)
);
CREATE TABLE generations (
	id INTEGER NOT NULL, 
	build_id INTEGER, 
	created_at VARCHAR NOT NULL, 
	asset_id VARCHAR NOT NULL, 
	job_id VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	"view" VARCHAR, 
	status VARCHAR NOT NULL, 
	recipe_hash VARCHAR NOT NULL, 
	recipe_json TEXT NOT NULL, 
	prompt TEXT NOT NULL, 
	negative_prompt TEXT NOT NULL, 
	seed INTEGER NOT NULL, 
	model_name VARCHAR NOT NULL, 
	model_hash VARCHAR NOT NULL, 
	plugin_versions_json TEXT NOT NULL, 
	output_path VARCHAR, 
	output_hash VARCHAR, 
	output_size INTEGER, 
	output_mtime_ns INTEGER, 
	duration_s FLOAT, 
	device VARCHAR, 
	environment_json TEXT, 
	metrics_json TEXT, 
	error TEXT, 
	error_plugin VARCHAR, licenses_json TEXT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(build_id) REFERENCES builds (id)
);
CREATE INDEX ix_generations_asset_id ON generations (asset_id);
CREATE INDEX ix_generations_recipe_hash ON generations (recipe_hash);
CREATE INDEX ix_generations_job ON generations (job_id, id);
CREATE TABLE file_hashes (
	path VARCHAR NOT NULL, 
	size INTEGER NOT NULL, 
	mtime_ns INTEGER NOT NULL, 
	inode INTEGER NOT NULL, 
	hash VARCHAR NOT NULL, 
	PRIMARY KEY (path)
);
CREATE TABLE verifications (
	id INTEGER NOT NULL, 
	build_id INTEGER, 
	created_at VARCHAR NOT NULL, 
	mode VARCHAR NOT NULL, 
	asset_id VARCHAR NOT NULL, 
	job_id VARCHAR NOT NULL, 
	record_id INTEGER, 
	output_path VARCHAR, 
	status VARCHAR NOT NULL, 
	expected_hash VARCHAR, 
	actual_hash VARCHAR, 
	max_diff FLOAT, 
	mean_diff FLOAT, 
	environment_diff_json TEXT, 
	detail TEXT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(build_id) REFERENCES builds (id)
);
CREATE INDEX ix_verifications_job ON verifications (job_id, id);
CREATE INDEX ix_generations_output_hash ON generations (output_hash);
INSERT INTO alembic_version (version_num) VALUES ('0003');
