-- Kaui lets in only the Kill Bill users listed in kaui_allowed_users (FIELD-NOTES.md): allow
-- `admin`, whose password is the secret killbill_admin_password (KB_ADMIN_PASSWORD). Loaded
-- once, after Kaui's DDL, into the empty kaui database.
INSERT INTO kaui_allowed_users (kb_username, description, created_at, updated_at)
SELECT 'admin', 'Kill Bill administrator (added by the marketplace deploy)', now(), now()
WHERE NOT EXISTS (SELECT 1 FROM kaui_allowed_users WHERE kb_username = 'admin');
