package api

// registerSync mounts discovery, selection, sync progress, data and feed routes.
func (a *API) registerSync(mux Mux) {
}
