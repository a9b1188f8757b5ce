/* sysc-compat-probe: a static i386 program (int $0x80 only, no libc) for the 32-bit ABI tests.
 * Writes "compat-ok\n" to stdout, then calls keyctl (i386 number 288), which the default seccomp
 * rules deny, and exits with 10 if it returned -ENOSYS, 11 if -EPERM, 12 for anything else.
 * When every 32-bit call is refused even exit fails: hlt then kills it with SIGSEGV instead of
 * letting it run on. Built with `as --32` and `ld -m elf_i386 -static`. */
        .section .rodata
msg:    .ascii "compat-ok\n"
        .set msg_len, . - msg

        .text
        .globl _start
_start:
        movl    $4, %eax                /* write(1, msg, msg_len) */
        movl    $1, %ebx
        movl    $msg, %ecx
        movl    $msg_len, %edx
        int     $0x80

        movl    $288, %eax              /* keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_THREAD_KEYRING, 0) */
        xorl    %ebx, %ebx
        movl    $-1, %ecx
        xorl    %edx, %edx
        int     $0x80

        movl    $10, %ebx
        cmpl    $-38, %eax              /* -ENOSYS */
        je      1f
        movl    $11, %ebx
        cmpl    $-1, %eax               /* -EPERM */
        je      1f
        movl    $12, %ebx
1:      movl    $1, %eax                /* exit(%ebx) */
        int     $0x80
        hlt
        .section .note.GNU-stack, "", @progbits
