package api

// registerIntegrations mounts connect, OAuth, diagnosis and integration routes.
func (a *API) registerIntegrations(mux Mux) {
}
