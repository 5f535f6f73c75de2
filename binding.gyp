{
  "variables": {
    "static_runtime%": "<!(node -p \"process.env.NODE_VMM_STATIC_RUNTIME === '1' ? 1 : 0\")"
  },
  "targets": [
    {
      "target_name": "node_vmm",
      "sources": [
        "native/addon.cc",
        "native/addon_data.cc",
        "native/args.cc",
        "native/errors.cc",
        "native/fd_handle.cc",
        "native/fd_watcher.cc",
        "native/guest_mapping.cc",
        "native/ioctl_table.cc",
        "native/mapped_region.cc",
        "native/mapping_io.cc",
        "native/system_calls.cc",
        "native/tap.cc",
        "native/vcpu_handle.cc",
        "native/vcpu_kick.cc",
        "native/vm_handle.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-fvisibility=hidden", "-fvisibility-inlines-hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }],
        ["static_runtime==1", { "ldflags": ["-static-libstdc++", "-static-libgcc", "-Wl,--exclude-libs,ALL"] }]
      ]
    }
  ]
}
