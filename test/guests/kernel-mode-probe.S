# The kernel-mode probe (lib/cli/kernel-mode-probe.ts embeds these bytes): three timed rounds of a
# dec/jnz loop, each between two writes to port 0x510, then hlt.
.code64
  mov $0x510, %dx
  mov $3, %ebx
2:
  out %al, %dx
  mov $100000, %ecx
1:
  dec %ecx
  jnz 1b
  out %al, %dx
  dec %ebx
  jnz 2b
  hlt
