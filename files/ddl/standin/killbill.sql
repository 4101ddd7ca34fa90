-- STAND-IN DDL, not Kill Bill's: a few of the tables Kill Bill's real DDL creates, so that the
-- Kill Bill stand-in can check its schema was loaded before it started (as the real server
-- needs). Production loads the real DDL: see README, "Kill Bill's and Kaui's DDL".
CREATE TABLE tenants (
    record_id serial PRIMARY KEY,
    id varchar(36) NOT NULL UNIQUE,
    external_key varchar(255),
    api_key varchar(128) UNIQUE,
    api_secret varchar(128),
    created_date timestamp NOT NULL DEFAULT now()
);
CREATE TABLE accounts (
    record_id serial PRIMARY KEY,
    id varchar(36) NOT NULL UNIQUE,
    external_key varchar(255) NOT NULL,
    email varchar(128),
    name varchar(100),
    currency varchar(3),
    tenant_record_id bigint NOT NULL DEFAULT 0,
    created_date timestamp NOT NULL DEFAULT now()
);
CREATE TABLE invoices (
    record_id serial PRIMARY KEY,
    id varchar(36) NOT NULL UNIQUE,
    account_id varchar(36) NOT NULL,
    invoice_date date NOT NULL,
    currency varchar(3) NOT NULL,
    tenant_record_id bigint NOT NULL DEFAULT 0
);
CREATE TABLE users (
    record_id serial PRIMARY KEY,
    username varchar(128) NOT NULL UNIQUE,
    password varchar(128) NOT NULL,
    password_salt varchar(128) NOT NULL,
    is_active boolean NOT NULL DEFAULT true
);
CREATE TABLE sessions (
    record_id serial PRIMARY KEY,
    start_timestamp timestamp NOT NULL,
    last_access_time timestamp,
    timeout int,
    host varchar(100),
    session_data bytea
);
