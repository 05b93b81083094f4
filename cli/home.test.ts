/**
 * Unit tests of the profile folder choice: --home beats $PIGEON_HOME, which
 * beats the platform default ($XDG_CONFIG_HOME or ~/.config on Linux and the
 * BSDs, ~/Library/Application Support on macOS, %APPDATA% on Windows). The
 * environment and platform are passed in, never taken from the process.
 */
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultHome, resolveHome } from './home.js';

describe('defaultHome()', () => {
  it('Linux: $XDG_CONFIG_HOME/pigeon when set', () => {
    expect(defaultHome({ XDG_CONFIG_HOME: '/srv/cfg' }, 'linux')).toBe(join('/srv/cfg', 'pigeon'));
  });

  it('Linux: ~/.config/pigeon when $XDG_CONFIG_HOME is unset or empty', () => {
    const expected = join(homedir(), '.config', 'pigeon');
    expect(defaultHome({}, 'linux')).toBe(expected);
    expect(defaultHome({ XDG_CONFIG_HOME: '' }, 'linux')).toBe(expected);
  });

  it('other Unix systems follow the XDG rule too', () => {
    expect(defaultHome({ XDG_CONFIG_HOME: '/x' }, 'freebsd')).toBe(join('/x', 'pigeon'));
    expect(defaultHome({}, 'openbsd')).toBe(join(homedir(), '.config', 'pigeon'));
  });

  it('macOS: ~/Library/Application Support/Pigeon, whatever XDG says', () => {
    const expected = join(homedir(), 'Library', 'Application Support', 'Pigeon');
    expect(defaultHome({}, 'darwin')).toBe(expected);
    expect(defaultHome({ XDG_CONFIG_HOME: '/srv/cfg' }, 'darwin')).toBe(expected);
  });

  it('Windows: %APPDATA%\\Pigeon, or the usual Roaming folder when APPDATA is unset', () => {
    expect(defaultHome({ APPDATA: 'C:\\Users\\ada\\AppData\\Roaming' }, 'win32')).toBe(join('C:\\Users\\ada\\AppData\\Roaming', 'Pigeon'));
    expect(defaultHome({}, 'win32')).toBe(join(homedir(), 'AppData', 'Roaming', 'Pigeon'));
    expect(defaultHome({ APPDATA: 'D:\\cfg', XDG_CONFIG_HOME: '/x' }, 'win32')).toBe(join('D:\\cfg', 'Pigeon'));
  });

  it('ignores PIGEON_HOME (that is resolveHome\'s business)', () => {
    expect(defaultHome({ PIGEON_HOME: '/elsewhere' }, 'linux')).toBe(join(homedir(), '.config', 'pigeon'));
  });

  it('defaults to the real process environment and platform', () => {
    expect(defaultHome()).toBe(defaultHome(process.env, process.platform));
  });
});

describe('resolveHome()', () => {
  it('the --home option wins over PIGEON_HOME and the default', () => {
    expect(resolveHome('/opt/pigeon-a', { PIGEON_HOME: '/opt/pigeon-b', XDG_CONFIG_HOME: '/x' })).toBe(resolve('/opt/pigeon-a'));
  });

  it('PIGEON_HOME wins over the platform default', () => {
    expect(resolveHome(undefined, { PIGEON_HOME: '/opt/pigeon-b', XDG_CONFIG_HOME: '/x' })).toBe(resolve('/opt/pigeon-b'));
  });

  it('falls back to the platform default of this machine', () => {
    const env = { XDG_CONFIG_HOME: '/srv/cfg', APPDATA: '/srv/appdata' };
    const expected =
      process.platform === 'win32'
        ? join('/srv/appdata', 'Pigeon')
        : process.platform === 'darwin'
          ? join(homedir(), 'Library', 'Application Support', 'Pigeon')
          : join('/srv/cfg', 'pigeon');
    expect(resolveHome(undefined, env)).toBe(resolve(expected));
  });

  it('makes relative paths absolute against the working directory', () => {
    expect(resolveHome('profiles/a', {})).toBe(join(process.cwd(), 'profiles', 'a'));
    expect(resolveHome(undefined, { PIGEON_HOME: './p' })).toBe(join(process.cwd(), 'p'));
    expect(isAbsolute(resolveHome(undefined, {}))).toBe(true);
  });

  it('normalises the path', () => {
    expect(resolveHome('/opt/a/../b/./c/', {})).toBe(resolve('/opt/b/c'));
  });
});

describe('empty environment variables', () => {
  it('are treated as unset, never as the current directory', () => {
    expect(resolveHome(undefined, { PIGEON_HOME: '', XDG_CONFIG_HOME: '/srv/cfg' })).toBe(process.platform === 'linux' ? '/srv/cfg/pigeon' : resolve(defaultHome({ XDG_CONFIG_HOME: '/srv/cfg' })));
  });
});
