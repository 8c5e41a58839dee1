-- Project configuration as Stack Auth layers it: one override per level
-- (project, branch, environment) instead of one flat legacy `config` object.
-- Existing projects keep their settings: the legacy fields become
-- environment-level keys, as Stack Auth's legacy project API writes them,
-- plus the team permissions every new project defines.
ALTER TABLE projects
    ADD COLUMN project_override      JSONB NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN branch_override       JSONB NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN branch_source         JSONB NOT NULL DEFAULT '{"type": "unlinked"}'::jsonb,
    ADD COLUMN environment_override  JSONB NOT NULL DEFAULT '{}'::jsonb;

UPDATE projects SET
    project_override = jsonb_strip_nulls(jsonb_build_object(
        'project.requirePublishableClientKey', config->'require_publishable_client_key')),
    environment_override = jsonb_strip_nulls(jsonb_build_object(
        'auth.allowSignUp', config->'sign_up_enabled',
        'auth.password.allowSignIn', COALESCE(config->'credential_enabled', 'true'::jsonb),
        'auth.otp.allowSignIn', config->'magic_link_enabled',
        'auth.passkey.allowSignIn', config->'passkey_enabled',
        'auth.oauth.accountMergeStrategy', config->'oauth_account_merge_strategy',
        'auth.oauth.providers', (
            SELECT jsonb_object_agg(p->>'id', jsonb_build_object(
                'type', p->>'id',
                'isShared', p->>'type' = 'shared',
                'clientId', p->'client_id',
                'clientSecret', p->'client_secret',
                'allowSignIn', true,
                'allowConnectedAccounts', true))
            FROM jsonb_array_elements(COALESCE(config->'oauth_providers', '[]'::jsonb)) AS p),
        'users.allowClientUserDeletion', config->'client_user_deletion_enabled',
        'teams.allowClientTeamCreation', config->'client_team_creation_enabled',
        'teams.createPersonalTeamOnSignUp', config->'create_team_on_sign_up',
        'domains.allowLocalhost', config->'allow_localhost',
        'domains.trustedDomains', (
            SELECT jsonb_object_agg('domain-' || d.n, jsonb_build_object(
                'baseUrl', d.v->'domain', 'handlerPath', d.v->'handler_path'))
            FROM jsonb_array_elements(COALESCE(config->'domains', '[]'::jsonb))
                 WITH ORDINALITY AS d(v, n)),
        'apiKeys.enabled.user', config->'allow_user_api_keys',
        'apiKeys.enabled.team', config->'allow_team_api_keys',
        'onboarding.requireEmailVerification', config->'require_email_verification',
        'rbac.defaultPermissions.teamCreator', COALESCE((
            SELECT jsonb_object_agg(p->>'id', true)
            FROM jsonb_array_elements(config->'team_creator_default_permissions') AS p),
            '{"team_admin": true}'::jsonb),
        'rbac.defaultPermissions.teamMember', COALESCE((
            SELECT jsonb_object_agg(p->>'id', true)
            FROM jsonb_array_elements(config->'team_member_default_permissions') AS p),
            '{"team_member": true}'::jsonb),
        'rbac.defaultPermissions.signUp', (
            SELECT jsonb_object_agg(p->>'id', true)
            FROM jsonb_array_elements(config->'user_default_permissions') AS p),
        'rbac.permissions.team_member', '{"description": "Default permission for team members", "scope": "team",
            "containedPermissionIds": {"$read_members": true, "$invite_members": true}}'::jsonb,
        'rbac.permissions.team_admin', '{"description": "Default permission for team admins", "scope": "team",
            "containedPermissionIds": {"$update_team": true, "$delete_team": true, "$read_members": true,
                                       "$remove_members": true, "$invite_members": true, "$manage_api_keys": true}}'::jsonb,
        'apps.installed.authentication.enabled', true,
        'apps.installed.emails.enabled', true
    ));

ALTER TABLE projects DROP COLUMN config;
