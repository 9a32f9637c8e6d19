package api

import (
	"net/http"

	"github.com/deployq/deployq/queue"
)

// Param is a typed deploy parameter of an environment, as the dashboard's
// deploy form shows it.
type Param struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"` // bool, enum, int, string
	Default  string   `json:"default,omitempty"`
	Values   []string `json:"values,omitempty"` // enum
	Required bool     `json:"required,omitempty"`
	Max      int      `json:"max,omitempty"` // string: bytes
}

// parameters: GET /api/v1/parameters?app=&env= -> the parameters deploys
// of app to env take (env "": the app's default), in config order.
func (s *Server) parameters(w http.ResponseWriter, r *http.Request) {
	_, env, err := s.svc.Lookup(r.URL.Query().Get("app"), r.URL.Query().Get("env"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := []Param{}
	for _, p := range env.Params {
		max := p.Max
		if p.Type == "string" && max == 0 {
			max = queue.DefaultParamMax
		}
		out = append(out, Param{Name: p.Name, Type: p.Type, Default: p.Default, Values: p.Values, Required: p.Required, Max: max})
	}
	writeJSON(w, http.StatusOK, out)
}
