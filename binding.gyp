{
  "variables": {
    # Sanitizer builds: node-gyp rebuild --debug -- -Dsanitize=address (see scripts/test-asan.mjs)
    "sanitize%": "",
  },
  "targets": [
    {
      "target_name": "node_hyper",
      # The one source list (CMakeLists.txt reads it from here, see scripts/gyp-config.js).
      "sources": [
        "native/src/addon.cc",
        "native/src/connection.cc",
        "native/src/connection_io.cc",
        "native/src/connector.cc",
        "native/src/driver.cc",
        "native/src/exchange.cc",
        "native/src/marshal.cc",
        "native/src/raw_head.cc",
        "native/src/tls.cc",
        "native/src/transport.cc",
        "native/src/tunnel.cc",
        "native/src/wrap.cc",
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native/include",
      ],
      # The N-API version comes from package.json ("binary.napi_versions", which prebuildify and
      # cmake-js read too). NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: node-addon-api must not
      # abort the process when it cannot throw because the environment is going away (a
      # worker being terminated).
      "defines": [
        "NAPI_VERSION=<!(node -p \"require('./package.json').binary.napi_versions[0]\")",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
      ],
      # cargo-build.js builds the hyper archive (release) and prints it plus the system
      # libraries rustc reports via --print native-static-libs.
      "libraries": [
        "<!@(node scripts/cargo-build.js)",
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++1y", "-std=gnu++20"],
      "cflags": ["-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc": ["-std=c++17", "-fno-exceptions", "-fvisibility=hidden", "-fvisibility-inlines-hidden"],
      "conditions": [
        ["OS=='linux'", {
          "ldflags": ["-Wl,--exclude-libs,ALL", "-Wl,--gc-sections", "-Wl,-z,now"],
        }],
        ["OS=='mac'", {
          "xcode_settings": {
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "GCC_ENABLE_CPP_EXCEPTIONS": "NO",
            "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
            "MACOSX_DEPLOYMENT_TARGET": "11.0",
            "OTHER_LDFLAGS": ["-framework", "CoreFoundation", "-framework", "Security"],
          },
        }],
        ["OS=='win'", {
          "msvs_settings": {
            "VCCLCompilerTool": { "ExceptionHandling": 0, "AdditionalOptions": ["/std:c++17"] },
          },
          "libraries": ["ws2_32.lib", "userenv.lib", "ntdll.lib", "bcrypt.lib"],
        }],
        ["sanitize=='address'", {
          "cflags": ["-fsanitize=address", "-fno-omit-frame-pointer"],
          "cflags_cc": ["-fsanitize=address", "-fno-omit-frame-pointer"],
          "ldflags": ["-fsanitize=address"],
        }],
      ],
    },
  ],
}
