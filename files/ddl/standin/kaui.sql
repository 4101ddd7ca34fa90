-- STAND-IN DDL, not Kaui's: Kaui's tables in PostgreSQL syntax, enough for the Kaui stand-in
-- to check its schema and its `admin` row. Production loads the real DDL: see README,
-- "Kill Bill's and Kaui's DDL".
CREATE TABLE kaui_users (
    id serial PRIMARY KEY,
    kb_username varchar(255) NOT NULL UNIQUE,
    kb_session_id varchar(255),
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL
);
CREATE TABLE kaui_tenants (
    id serial PRIMARY KEY,
    name varchar(255) NOT NULL UNIQUE,
    kb_tenant_id varchar(255),
    api_key varchar(255),
    encrypted_api_secret varchar(255),
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL
);
CREATE TABLE kaui_allowed_users (
    id serial PRIMARY KEY,
    kb_username varchar(255) UNIQUE,
    description varchar(255),
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL
);
CREATE TABLE kaui_allowed_user_tenants (
    id serial PRIMARY KEY,
    kaui_allowed_user_id int REFERENCES kaui_allowed_users (id),
    kaui_tenant_id int REFERENCES kaui_tenants (id),
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL,
    UNIQUE (kaui_allowed_user_id, kaui_tenant_id)
);
