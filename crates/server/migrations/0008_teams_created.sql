-- The dashboard's team list: newest first in keyset pages, without sorting
-- a project's every team.
CREATE INDEX teams_created ON teams(project_id, created_at, id);
