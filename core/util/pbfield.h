/* Field access by path on any protobuf-c message, with the rules of
 * containerd's generated Field(fieldpath) adaptors, so that filters like
 * `event.id==x` or `event.labels."a.b"==c` select what containerd selects:
 *   - a string field by its proto name: present when non-empty;
 *   - a bool field: "true" / "false", always present;
 *   - a message field: the rest of the path inside it;
 *   - a map<string,string> field: the rest of the path joined with '.' is the
 *     key (containerd's checkMap); if the wire repeated a key, the last wins.
 * Other field types are never present. */
#pragma once
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

bool pbfield_get(const ProtobufCMessage *m, const char *const *path, size_t n, const char **value);
