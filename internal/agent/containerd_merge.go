package agent

import (
	"fmt"

	"github.com/pelletier/go-toml/v2"
)

// pluginsTable is the table of containerd's configuration that holds every plugin's settings.
const pluginsTable = "plugins"

// v2CRIPlugin is the CRI plugin's section in a version 2 configuration.
const v2CRIPlugin = "io.containerd.grpc.v1.cri"

// mergedHeader starts a version 2 drop-in merged over config.toml's CRI section.
const mergedHeader = "# Written by innkeeper. containerd 1.7 replaces a plugin's whole section of config.toml with an\n" +
	"# imported file's, so this holds config.toml's [plugins.\"" + v2CRIPlugin + "\"] with innkeeper's\n" +
	"# settings merged over it. Changes here are overwritten.\n"

// mergeCRISection returns a drop-in for containerd 1.x merged over the CRI section of the Node's
// config.toml. containerd 1.x merges an imported file one plugin section at a time: the drop-in's
// [plugins."io.containerd.grpc.v1.cri"] would replace the Node's whole CRI section (its CNI
// directories, runtimes, registry settings...), not only the keys innkeeper sets (containerd#5837).
// Carrying the Node's section keeps every key innkeeper does not set; innkeeper's win.
func mergeCRISection(main map[string]any, dropIn []byte) ([]byte, error) {
	base := table(table(main, pluginsTable), v2CRIPlugin)
	if len(base) == 0 {
		return dropIn, nil
	}
	doc := map[string]any{}
	if err := toml.Unmarshal(dropIn, &doc); err != nil {
		return nil, fmt.Errorf("read the drop-in: %w", err)
	}
	plugins := table(doc, pluginsTable)
	if plugins == nil {
		plugins = map[string]any{}
		doc[pluginsTable] = plugins
	}
	plugins[v2CRIPlugin] = mergeTables(base, table(plugins, v2CRIPlugin))
	out, err := toml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("write the merged drop-in: %w", err)
	}
	return append([]byte(mergedHeader), out...), nil
}

// mergeTables returns base with over merged into it, table by table; over's values win.
func mergeTables(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		b, bok := out[k].(map[string]any)
		o, ook := v.(map[string]any)
		if bok && ook {
			out[k] = mergeTables(b, o)
		} else {
			out[k] = v
		}
	}
	return out
}

// table returns a TOML table's sub-table, or nil.
func table(t map[string]any, key string) map[string]any {
	sub, _ := t[key].(map[string]any)
	return sub
}
