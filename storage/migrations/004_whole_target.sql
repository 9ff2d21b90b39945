-- Whether the request is for the whole of its backend's target (a Kubernetes ClusterRoleBinding,
-- DuploCloud admin access). Kept with the request, so the revoke undoes what the grant did even
-- if the role's config changed or went away meanwhile. Requests made before this column existed
-- asked for a ClusterRoleBinding with the scope "*", which the Kubernetes backend still honours.
ALTER TABLE requests ADD COLUMN whole_target INTEGER NOT NULL DEFAULT 0;
